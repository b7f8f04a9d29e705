"""Reinforcement learning: a trading environment over the research backtester, agents on
stable-baselines3, training and a model registry.

Nothing here is imported when the engine or the console starts: torch, stable-baselines3 and
gymnasium are heavy (torch alone is ~1 s and ~300 MB), so they load only when a command or an
RL template asks for them. ``engine.rl.registry`` lists and describes saved models with the
standard library and numpy alone; ``env``, ``agents``, ``train`` and ``inference`` import the
learning libraries at their top and are imported only by the paths that use them.
"""
