"""The capture: the script a device runs, and the splitters for what it printed (and for method logs)."""
