"""The voice attribute audit (HearSay protocol): does a model infer private traits from a
voice alone, does it refuse, and how do Chain-of-Thought and a defense prompt change it."""
