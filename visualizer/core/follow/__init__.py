"""Follow Stream: the payload of one conversation, both directions, in order."""
