"""Validation fine-tune of a release (sentence-transformers), in four small modules.

- ``data``: read a release's splits and BEIR folders; the one query format (``format_query``).
- ``model``: load the encoder or the decoder (EOS + last-token pooling, LoRA), the cached InfoNCE
  loss and the trainer settings (``load_model``, ``attach_lora``, ``build_loss``, ``fine_tune``).
- ``evaluate``: held-out and benchmark evaluators and their metrics.
- ``validate``: ``validate_release`` (the ``synthembed validate`` verb) and ``ValidationResult``.

Nothing heavy is imported here; torch and sentence-transformers load when a function needs them.
"""
