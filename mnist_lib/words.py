"""Word helpers every sentence of the reports uses: plurals, ordinals, percentages, p-values, inline
code, lists with "and", and what one class of a data set is called. Imports nothing of the library,
so any layer may use them."""

from __future__ import annotations

import math
from typing import Sequence


def plural(n: int, word: str, many: str | None = None) -> str:
    """"1 epoch", "3 epochs"."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"


def ordinal(n: int) -> str:
    """1 -> "1st", 2 -> "2nd", 3 -> "3rd", 11 -> "11th", 22 -> "22nd"."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def percent(fraction: float) -> str:
    """0.91 -> "91%", 0.005 -> "0.5%", 0.955 -> "95.5%" (no more decimals than needed, at most two)."""
    return f"{100 * fraction:.2f}".rstrip("0").rstrip(".") + "%"


def class_nouns(raw) -> tuple[str, str]:
    """(singular, plural) of what one class of ``raw`` (a :class:`mnist_lib.datasets.RawDataset`)
    is called in prose: ("digit", "digits") for MNIST, ("class", "classes") otherwise."""
    return raw.dataset.class_noun, raw.dataset.class_noun_plural


def foreground_noun(raw) -> str:
    """What the bright (non-background) pixels of an image are: "strokes" for digits, "object" otherwise."""
    return "strokes" if raw.dataset.class_noun == "digit" else "object"


def code_list(names: Sequence[str], separator: str = ", ") -> str:
    """Names as inline code: "`adam`, `sgd`"."""
    return separator.join(f"`{name}`" for name in names)


def and_list(items) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def p_value(p: float) -> str:
    """A p-value as a report prints it: four decimals below 0.01, three above, "< 0.0001" below that,
    "n/a" when no test could be run."""
    if not math.isfinite(p):
        return "n/a"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}" if p < 0.01 else f"{p:.3f}"
