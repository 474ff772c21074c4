"""The SDK's packages keep their public import paths: quality and settlement were modules before they were cut
into one module per job, and scripts written against them must keep working."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["millchain.quality", "millchain.settlement"])
def test_every_exported_name_resolves_from_the_package(package: str) -> None:
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []


def test_the_quality_story_lives_with_the_demo_and_keeps_its_old_import_path() -> None:
    from millchain.demo.quality import play_quality_story
    from millchain.quality import play_quality_story as old_path

    assert old_path is play_quality_story
    with pytest.raises(AttributeError, match="no attribute 'play_the_story'"):
        importlib.import_module("millchain.quality").play_the_story  # noqa: B018


def test_one_address_parser_serves_both_domains() -> None:
    from millchain import quality, settlement, types

    assert quality.parse_address is settlement.parse_address is types.parse_address
