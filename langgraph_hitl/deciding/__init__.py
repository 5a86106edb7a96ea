"""Deciding and applying: the desk (record, apply), the worker (the apply loop), batch
review, and learning from decisions."""
