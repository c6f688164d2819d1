"""The leaderboard: the aggregation of final runs (shared with ``kdbench export``) and the app."""
