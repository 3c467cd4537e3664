"""The built-in world the quickstart runs in: a review task, its gold labeler, and a tiny model built locally."""
