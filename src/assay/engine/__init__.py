"""WHAT runs next: the pipeline graph, a pure planner, and the scheduler loop that records each
transition in the catalog before acting on it."""
