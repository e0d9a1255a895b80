"""Small helpers shared by the tutorial notebooks (notebooks/*.ipynb): display a figure and print a
fixed-width metrics table. Kept here, not re-defined in each notebook, so every notebook prints alike."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

__all__ = ["show", "format_table", "table"]


def show(fig) -> None:
    """Display a matplotlib figure in the notebook, then close it.

    Displayed explicitly because the library's plotting helpers return figures without showing them (and
    may run under a non-interactive backend); closing frees the memory and keeps ``%matplotlib inline`` from
    drawing the same figure a second time at the end of the cell.
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    display(fig)
    plt.close(fig)


def _rows(rows: Any) -> Mapping[str, Mapping[str, float]]:
    # a clippan_kit.compare.Comparison carries its rows in .metrics
    return rows.metrics if hasattr(rows, "metrics") else rows


def format_table(rows: Any, keys: Sequence[str], digits: int = 4, name_width: int = 16, col_width: int = 11,
                 header: str = "method") -> str:
    """A fixed-width text table, one line per method.

    Args:
        rows: ``{method name: {metric: value}}``, or a :class:`~clippan_kit.compare.Comparison` (its ``metrics``).
        keys: metric names, one column each, in this order.
        digits: decimals printed for every value.
        name_width, col_width: characters of the name column and of each value column.
    """
    rows = _rows(rows)
    lines = [f"{header:<{name_width}}" + "".join(f"{k:>{col_width}}" for k in keys)]
    lines += [f"{name:<{name_width}}" + "".join(f"{m[k]:>{col_width}.{digits}f}" for k in keys) for name, m in rows.items()]
    return "\n".join(lines)


def table(rows: Any, keys: Sequence[str], digits: int = 4, name_width: int = 16, col_width: int = 11) -> None:
    """Print :func:`format_table` (same arguments)."""
    print(format_table(rows, keys, digits, name_width, col_width))
