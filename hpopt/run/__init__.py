"""The controller side of a run: the ask/tell loop and trial life cycle, the budget, resume, overhead."""
