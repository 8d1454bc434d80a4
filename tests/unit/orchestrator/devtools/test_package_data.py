"""The files the commands read are found through the packages, never the source checkout.

`scripts/check-wheel.sh` proves the same on an installed wheel; these tests keep the
lookups honest in the checkout: each resolves inside its package and holds what the
command needs.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import cast

import docker
import pytest

from orchestrator.cli import doctor
from orchestrator.devtools import bench, checkout, package_data
from orchestrator.devtools.prove import diff_fuzz, engine_restart, generate, report
from orchestrator.testing.replay import load_replay
from sandbox import images


def _inside(path: Path, package: str) -> bool:
    return path.resolve().is_relative_to(Path(str(resources.files(package))).resolve())


def test_the_corpus_is_the_package_s_and_holds_every_labelled_line() -> None:
    corpus = package_data.corpus_dir()
    assert _inside(corpus, "orchestrator.devtools")
    lines = [
        line
        for name in ("adversarial.jsonl", "benign.jsonl")
        for line in (corpus / name).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    assert len(lines) > 500
    assert all(json.loads(line)["cmd"] for line in lines)
    assert bench.corpus_commands() == [json.loads(line)["cmd"] for line in lines]
    assert sorted(generate.load_corpus()) == sorted(bench.corpus_commands())


def test_the_demo_project_and_its_replays_ship_in_the_package() -> None:
    examples = package_data.examples_dir()
    assert _inside(examples, "orchestrator.devtools")
    calc = examples / "calc"
    assert (calc / "calc.py").is_file() and (calc / "tests" / "test_calc.py").is_file()
    assert "len(values) - 1" in (calc / "calc.py").read_text()  # the bug the demo fixes
    for name in ("demo.yaml", "smoke.yaml"):
        assert load_replay(examples / "replays" / name), name


def test_the_image_recipes_ship_in_the_sandbox_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRLOCK_IMAGES_DIR", raising=False)
    recipes = images.images_dir()
    assert _inside(recipes, "sandbox")
    wanted = {
        "dev": ("Dockerfile", "packages.txt", "git_guard.py"),
        "minimal": ("passwd", "group"),
    }
    assert {recipe.folder for recipe in images.RECIPES} == set(wanted)
    for recipe in images.RECIPES:
        assert _inside(recipe.directory, "sandbox")
        for name in wanted[recipe.folder]:
            assert (recipe.directory / name).is_file(), (recipe.folder, name)


@pytest.mark.parametrize("package", ["orchestrator", "sandbox", "security"])
def test_each_top_level_package_is_marked_typed(package: str) -> None:
    assert (resources.files(package) / "py.typed").is_file()


def test_a_missing_data_folder_is_a_clear_error_not_an_empty_run() -> None:
    with pytest.raises(package_data.PackageDataMissing, match="reinstall airlock"):
        package_data.package_folder("orchestrator.devtools", "no-such-folder")


def test_a_missing_recipe_folder_is_a_doctor_failure_not_a_crash(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRLOCK_IMAGES_DIR", str(tmp_path))  # holds no recipe
    # status() hashes the recipe before it asks the engine anything
    checks = doctor._image_checks(cast(docker.DockerClient, None))
    assert [check.health for check in checks] == [doctor.Health.FAIL] * len(images.RECIPES)
    assert all("does not exist" in check.detail for check in checks)


def test_this_checkout_is_found_and_other_folders_are_not(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[4]
    assert checkout.source_checkout() == root
    assert checkout.source_checkout(tmp_path) is None
    (tmp_path / "tests").mkdir()
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "other"\n')
    assert checkout.source_checkout(tmp_path) is None
    (tmp_path / "pyproject.toml").write_text("[project\n")
    assert checkout.source_checkout(tmp_path) is None
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "airlock"\n')
    assert checkout.source_checkout(tmp_path) == tmp_path


def test_findings_go_to_the_checkout_s_regressions_when_run_from_it() -> None:
    root = Path(__file__).resolve().parents[4]
    assert diff_fuzz.regressions_dir() == root / "tests" / "corpus" / "regressions"
    assert diff_fuzz.pending_dir() == root / "tests" / "corpus" / "regressions" / "pending"


def test_an_installed_copy_keeps_findings_under_the_current_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(diff_fuzz, "source_checkout", lambda: None)
    monkeypatch.chdir(tmp_path)
    assert diff_fuzz.pending_dir() == tmp_path / ".airlock" / "regressions" / "pending"
    assert not diff_fuzz.pending_dir().is_relative_to(Path(str(resources.files("orchestrator"))))


def test_without_a_checkout_the_fault_suite_is_reported_not_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(report, "source_checkout", lambda: None)
    cases = report._fault_cases()
    assert list(cases.values()) == [False]  # a failed row, never a clean one
    monkeypatch.setattr(engine_restart, "source_checkout", lambda: None)
    assert engine_restart._ensure_engine() is None
