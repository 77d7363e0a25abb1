"""Live trading: accounts and secrets, the run's steps, order planning, execution, reconcile.

Entry points: :class:`qlib_local.live.session.LiveSession` (the notebook's steps) and
:func:`qlib_local.live.runner.run_live` (what ``qlib-local live run`` calls).
"""
