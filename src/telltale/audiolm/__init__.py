"""An audio LM assembled from real pretrained parts (Whisper encoder + SmolLM2-Instruct in
the Qwen2-Audio layout) and trained by telltale with a recorded training set
(``telltale audiolm build``)."""
