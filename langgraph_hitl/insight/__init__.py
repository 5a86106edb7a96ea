"""How review is going: metrics (computed, read with SQL, rendered), and the checklist."""
