"""Containers that remember where they came from.

Mappings and sequences from a template are ``DictNode``/``ListNode``: ordinary
``dict``/``list`` subclasses (so all code can treat them as plain data) that carry the
line and column of the node and of each key/item. Scalars stay plain Python values;
their position is the key mark of the mapping (or item mark of the list) holding them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Mark = tuple[int, int]  # (line, col), 1-based


class DictNode(dict):  # type: ignore[type-arg]
    __slots__ = ("key_marks", "mark")

    def __init__(self, *args: Any, mark: Mark = (1, 1), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mark: Mark = mark
        self.key_marks: dict[str, Mark] = {}

    @classmethod
    def at(cls, mark: Mark) -> DictNode:
        """An empty node at ``mark``; the loader makes one per mapping, and skipping
        ``__init__``'s argument handling halves the cost."""
        node = dict.__new__(cls)
        node.mark = mark
        node.key_marks = {}
        return node


class ListNode(list):  # type: ignore[type-arg]
    __slots__ = ("item_marks", "mark")

    def __init__(self, *args: Any, mark: Mark = (1, 1)) -> None:
        super().__init__(*args)
        self.mark: Mark = mark
        self.item_marks: list[Mark] = []

    @classmethod
    def at(cls, mark: Mark) -> ListNode:
        """An empty node at ``mark`` (see :meth:`DictNode.at`)."""
        node = list.__new__(cls)
        node.mark = mark
        node.item_marks = []
        return node


def mark_of(node: Any, default: Mark = (1, 1)) -> Mark:
    return getattr(node, "mark", default)


def line_of(node: Any, key: str | int | None = None, default: int = 1) -> int:
    """The line of ``node[key]`` (its key or item mark) or of ``node`` itself: where a
    schema error in a knowledge or config file points."""
    if isinstance(node, DictNode) and isinstance(key, str) and key in node.key_marks:
        return int(node.key_marks[key][0])
    if isinstance(node, ListNode) and isinstance(key, int) and key < len(node.item_marks):
        return int(node.item_marks[key][0])
    mark = getattr(node, "mark", None)
    return int(mark[0]) if mark else default


def locate(root: Any, path: Sequence[str | int]) -> Mark:
    """The most precise known position of ``path`` inside ``root``.

    Walks as far as the path exists and returns the mark of the deepest key or item
    reached, so a finding about an absent property points at its resource.
    """
    node = root
    best: Mark = mark_of(root)
    for step in path:
        if isinstance(node, DictNode) and isinstance(step, str) and step in node:
            best = node.key_marks.get(step, best)
            node = node[step]
        elif isinstance(node, ListNode) and isinstance(step, int) and 0 <= step < len(node):
            if step < len(node.item_marks):
                best = node.item_marks[step]
            node = node[step]
        else:
            break
        if isinstance(node, (DictNode, ListNode)) and not isinstance(step, str):
            best = node.mark
    return best
