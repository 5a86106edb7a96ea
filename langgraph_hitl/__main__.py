from langgraph_hitl.cli import main

main()
