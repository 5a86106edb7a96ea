"""Ready graphs the CLI runs by name; installed with the package as `langgraph_hitl.graphs`."""
