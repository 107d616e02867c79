"""The ideas service: ideas, ratings, threaded discussion, follows, moderation and search."""
