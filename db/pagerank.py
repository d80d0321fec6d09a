"""PageRank by power iteration in plain Python (no numpy), for ``export nodes``.

The same algorithm and stopping rule as networkx's ``pagerank`` with its defaults, so a
researcher who recomputes it there gets the same numbers: damping ``alpha``, a uniform
teleport, the rank of dangling nodes (no out-links) spread evenly over all nodes, parallel
edges adding up, and iteration until the L1 change is below ``n * tol``.
"""

from __future__ import annotations

from collections.abc import Sequence


def pagerank(
    n: int,
    sources: Sequence[int],
    targets: Sequence[int],
    alpha: float = 0.85,
    max_iter: int = 100,
    tol: float = 1.0e-6,
) -> list[float]:
    """PageRank of nodes ``0 … n-1`` over the edges ``sources[i] -> targets[i]`` (weight 1).

    Returns the last iterate when ``max_iter`` is reached without convergence (networkx
    raises instead; an export would rather have a close answer than none).
    """
    if n == 0:
        return []
    out_degree = [0] * n
    for s in sources:
        out_degree[s] += 1
    dangling = [i for i in range(n) if out_degree[i] == 0]
    share = [1.0 / d if d else 0.0 for d in out_degree]
    ranks = [1.0 / n] * n
    for _ in range(max_iter):
        previous = ranks
        # Every node gets the teleport and its part of the dangling nodes' rank ...
        base = (alpha * sum(previous[i] for i in dangling) + 1.0 - alpha) / n
        ranks = [base] * n
        # ... and each in-link passes on its source's rank divided by the source's out-degree.
        for s, t in zip(sources, targets, strict=True):
            ranks[t] += alpha * previous[s] * share[s]
        if sum(abs(a - b) for a, b in zip(ranks, previous, strict=True)) < n * tol:
            break
    return ranks
