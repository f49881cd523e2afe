"""Analysis of trained networks: weight scores, masks and pruning, shrinking."""
