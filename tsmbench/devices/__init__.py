"""Where a model runs: the local machine (CPU / desktop GPU) and Jetson boards, on the board or over ssh."""
