"""Another project's suite installs the test kit (SPEC §7) with ``pip install <checkout>[kit]``.

The wheel ``pip`` builds from this checkout must hold both packages whole (``auth`` with
its kit and pytest plugin, ``cashman`` with its migrations), and the README's contract
suite must pass where only that wheel provides them: in a directory of its own, not in
this checkout. It once held nothing (``packages = []``): the dependencies installed, and
``import auth.testing`` failed.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from email.parser import Parser

import pytest

from tests.support.processes import PYTHON, ROOT, clean_env, run_command

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
PACKAGES = ("auth", "cashman")


def package_files() -> set[str]:
    """Every file git tracks in the two packages, as paths inside a wheel."""
    listed = run_command(["git", "ls-files", "-z", *PACKAGES], clean_env(), cwd=ROOT)
    assert listed.returncode == 0, listed.stderr
    return {name for name in listed.stdout.split("\0") if name}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel pip builds from a copy of this checkout's tracked sources."""
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    for name in ("pyproject.toml", "README.md", *package_files()):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    pip_wheel = [PYTHON, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
    built = run_command([*pip_wheel, "-w", str(work / "dist"), str(source)], clean_env(), cwd=work)
    assert built.returncode == 0, built.stderr
    (path,) = (work / "dist").glob("cashman-*.whl")
    return path


def test_the_wheel_holds_both_packages_whole(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert package_files() <= names, sorted(package_files() - names)
    assert "auth/testing/__init__.py" in names
    assert "cashman/migrations/versions/0001_initial.py" in names
    # nothing else of the checkout (tests, benchmarks, examples) goes with it
    tops = {name.split("/", 1)[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == set(PACKAGES)


def test_the_kit_extra_brings_what_a_suite_needs(wheel):
    with zipfile.ZipFile(wheel) as archive:
        (metadata_name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(metadata_name).decode())
    assert "kit" in metadata.get_all("Provides-Extra")
    kit_requirements = [r for r in metadata.get_all("Requires-Dist") if 'extra == "kit"' in r]
    assert {re.split(r"[<>=; ]", r, maxsplit=1)[0] for r in kit_requirements} == {
        "pytest",
        "responses",
    }


def test_the_readme_contract_suite_passes_on_the_installed_kit(wheel, tmp_path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### From a CI pipeline: the test kit", 1)[1]
    suite = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    project = tmp_path / "their-project"
    project.mkdir()
    (project / "test_cashman_contract.py").write_text(suite)
    # their directory, with the wheel's packages and this environment's dependencies:
    # nothing of this checkout is on the path
    env = clean_env(PYTHONPATH=str(site))
    done = run_command(
        [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(project)],
        env,
        cwd=project,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "6 passed" in done.stdout
    where = run_command([PYTHON, "-c", "import auth; print(auth.__file__)"], env, cwd=project)
    assert where.stdout.strip().startswith(str(site)), where.stdout
