"""Figure scripts of the problem set; `python -m viz.all` (or `make figures`) makes every one."""
