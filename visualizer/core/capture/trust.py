"""Can anyone but root change what a virtual environment runs?

``setup-capture`` runs a venv's interpreter as root (to check it) and makes
it, or a helper beside it, the capture program of a whole group. Whoever can
change a file that interpreter loads, or a directory on the way to one,
decides what runs there. :func:`venv_changeable` answers before anything of
the venv runs, from the file system alone (``lstat``, directory listings and
a few small text files, never executing or importing anything).

A file or directory is *changeable by others* when it is not owned by root
or when its group or others may write it. The group bits also cover POSIX
ACLs: with an ACL, the group bits are the ACL's mask, which bounds every
named user's and group's access. A directory *on the way* to a path
(``/tmp``) may be writable by others if it is root's and sticky: others may
add names there but not replace root's. What is checked:

- the venv: its directory and every directory above it, and everything in
  it, following its symbolic links (``bin/python`` to the installation's
  binary, a linked ``site-packages``) with the same care;
- what its ``site-packages`` add to the import path: the paths in ``.pth``
  files and the folders of setuptools' editable installs (``MAPPING`` in
  ``__editable___*_finder.py``), each as a tree;
- the Python installation it belongs to (``home`` in ``pyvenv.cfg``): the
  standard library's folder as a tree, and ``lib`` with its ``libpython``.
"""

from __future__ import annotations

import ast
import contextlib
import grp
import os
import pwd
import stat
from collections.abc import Iterator
from dataclasses import dataclass

__all__ = ["Changeable", "venv_changeable"]

_MAX_LINKS = 40


@dataclass(frozen=True)
class Changeable:
    """``path`` can be changed by a user other than root, because ``why``."""

    path: str
    why: str  # "owned by alice", "writable by group staff", ...

    def __str__(self) -> str:
        return f"{self.path} ({self.why})"


def venv_changeable(venv_dir: str) -> Changeable | None:
    """The first file or directory of ``venv_dir`` (see the module's
    docstring for what that covers) that a user other than root can change,
    or None when only root can change any of it."""
    walker = _Walker()
    for problem in _venv_problems(walker, os.path.abspath(venv_dir)):
        return problem
    return None


def _venv_problems(walker: _Walker, venv: str) -> Iterator[Changeable]:
    yield from walker.tree(venv)
    config = _pyvenv_config(os.path.join(venv, "pyvenv.cfg"))
    for site in walker.site_dirs:
        yield from _import_path_problems(walker, site)
    home = config.get("home", "")
    if not os.path.isabs(home):
        return
    yield from walker.path(home)
    prefix = os.path.dirname(os.path.normpath(home))
    lib = os.path.join(prefix, "lib")
    yield from walker.path(lib)
    version = ".".join(config.get("version", config.get("version_info", "")).split(".")[:2])
    stdlib = os.path.join(lib, f"python{version}")
    if version and os.path.isdir(stdlib):
        yield from walker.tree(stdlib)
    with contextlib.suppress(OSError), os.scandir(lib) as entries:
        for entry in entries:
            if entry.name.startswith("libpython"):
                yield from walker.path(entry.path)


def _import_path_problems(walker: _Walker, site: str) -> Iterator[Changeable]:
    """The folders that ``.pth`` files and editable installs in ``site`` add."""
    with contextlib.suppress(OSError), os.scandir(site) as entries:
        files = [entry.path for entry in entries if entry.is_file(follow_symlinks=False)]
    for path in sorted(files):
        name = os.path.basename(path)
        if name.endswith(".pth"):
            for line in _read_small(path).splitlines():
                line = line.strip()
                if line and not line.startswith(("#", "import ", "import\t")):
                    target = os.path.join(site, line)
                    if os.path.exists(target):
                        yield from walker.tree(target)
        elif name.startswith("__editable__") and name.endswith("_finder.py"):
            for target in _editable_mapping(_read_small(path)):
                if os.path.isabs(target) and os.path.exists(target):
                    yield from walker.tree(target)


def _editable_mapping(source: str) -> list[str]:
    """The folders of setuptools' ``MAPPING = {"package": "/path", ...}``."""
    try:
        module = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    for node in module.body:
        target: ast.expr
        value: ast.expr | None
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id == "MAPPING" and value is not None:
            with contextlib.suppress(ValueError, TypeError, SyntaxError, MemoryError,
                                     RecursionError):
                mapping = ast.literal_eval(value)
                if isinstance(mapping, dict):
                    return [item for item in mapping.values() if isinstance(item, str)]
    return []


def _read_small(path: str, limit: int = 1 << 20) -> str:
    """A regular file's text (never blocks on a FIFO); "" if it cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return ""
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return ""
        return f.read(limit).decode("utf-8", "replace")


def _pyvenv_config(path: str) -> dict[str, str]:
    config = {}
    for line in _read_small(path).splitlines():
        key, sep, value = line.partition("=")
        if sep:
            config[key.strip().lower()] = value.strip()
    return config


# -- the walk -------------------------------------------------------------------------

def _owner(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return f"gid {gid}"


def _problem(path: str, info: os.stat_result, *, on_the_way: bool) -> Changeable | None:
    if info.st_uid != 0:
        return Changeable(path, f"owned by {_owner(info.st_uid)}")
    mode = info.st_mode
    if not mode & 0o022:
        return None
    if on_the_way and stat.S_ISDIR(mode) and mode & stat.S_ISVTX:
        return None  # root's and sticky (/tmp): nobody can replace root's entries
    if mode & 0o002:
        return Changeable(path, "writable by everyone")
    return Changeable(path, f"writable by group {_group(info.st_gid)}")


class _Walker:
    """Checks paths and trees, each directory once."""

    def __init__(self) -> None:
        self._trees_seen: set[tuple[int, int]] = set()
        self.site_dirs: list[str] = []  # the site-packages folders met in trees

    def path(self, path: str, _links: int = 0) -> Iterator[Changeable]:
        """Every directory on the way to ``path`` and ``path`` itself; the
        symbolic links on the way are followed, each target checked alike. A
        path that does not exist must not be creatable by others either."""
        if _links > _MAX_LINKS:
            yield Changeable(path, "too many levels of symbolic links")
            return
        parts = os.path.abspath(path).split(os.sep)[1:]
        current = "/"
        try:
            info = os.lstat(current)
        except OSError:
            return
        for index, part in enumerate(parts):
            if not part:
                continue
            problem = _problem(current, info, on_the_way=True)
            if problem is not None:
                yield problem
                return
            candidate = os.path.join(current, part)
            try:
                info = os.lstat(candidate)
            except FileNotFoundError:
                # Who may write ``current`` may create it: sticky is no help here.
                problem = _problem(current, os.lstat(current), on_the_way=False)
                if problem is not None:
                    yield Changeable(candidate, f"missing, and {current} is "
                                                f"{problem.why}")
                return
            except OSError:
                return
            if stat.S_ISLNK(info.st_mode):
                target = os.path.join(current, os.readlink(candidate))
                rest = parts[index + 1:]
                yield from self.path(os.path.normpath(os.path.join(target, *rest)),
                                     _links + 1)
                return
            current = candidate
        problem = _problem(current, info, on_the_way=False)
        if problem is not None:
            yield problem

    def tree(self, top: str) -> Iterator[Changeable]:
        """``top`` as :meth:`path` sees it, then everything below it."""
        found = False
        for problem in self.path(top):
            found = True
            yield problem
        if found or not os.path.isdir(top):
            return
        pending = [os.path.realpath(top)]
        while pending:
            folder = pending.pop()
            try:
                info = os.stat(folder)
            except OSError:
                continue
            key = (info.st_dev, info.st_ino)
            if key in self._trees_seen:
                continue
            self._trees_seen.add(key)
            if os.path.basename(folder) in ("site-packages", "dist-packages"):
                self.site_dirs.append(folder)
            try:
                with os.scandir(folder) as entries:
                    listed = list(entries)
            except OSError:
                continue
            for entry in listed:
                try:
                    entry_info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISLNK(entry_info.st_mode):
                    problems = list(self.path(entry.path))
                    if problems:
                        yield problems[0]
                        return
                    target = os.path.realpath(entry.path)
                    if os.path.isdir(target):
                        pending.append(target)
                    continue
                changeable = _problem(entry.path, entry_info, on_the_way=False)
                if changeable is not None:
                    yield changeable
                    return
                if stat.S_ISDIR(entry_info.st_mode):
                    pending.append(entry.path)
