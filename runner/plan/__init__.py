"""Plans: the model (plain data), the planner, table/schema diffs and renderers."""
