"""An evoforge plugin used by tests/plugins/test_out_of_tree.py: the `target_sum` task kind
(kind.py) and the `tagged_greedy` strategy (strategy.py), registered as entry points."""
