"""The wiring's registries name exactly the choices config.py accepts."""

from __future__ import annotations

from pai_cli import config, wiring


def test_every_vector_store_choice_has_an_adapter_and_no_other() -> None:
    assert set(wiring.VECTOR_STORES) == set(config.VECTOR_STORES)


def test_choices_are_validated_against_the_registries() -> None:
    assert config.CHOICES["vector_store"] == config.VECTOR_STORES
    assert config.CHOICES["backend"] == config.BACKENDS
    assert config.CHOICES["memory_mode"] == config.MEMORY_MODES
