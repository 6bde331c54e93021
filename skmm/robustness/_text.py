"""Text corruptions of validated text cells.

Every function takes a non-empty string, a severity in (0, 1] and a NumPy
``Generator`` and returns a non-empty string. Severity 0 never reaches them.

Severity scales (documented in the user guide):

================  =============================================================
corruption        severity ``s`` maps to
================  =============================================================
``typos``         each letter replaced, with probability ``0.3 s``, by one of
                  its neighbours on a QWERTY keyboard (case kept)
``word_dropout``  each word deleted with probability ``0.8 s`` (at least one
                  word is kept)
``word_swap``     a fraction ``s`` of the words moved to other positions
                  (the chosen words are permuted among their places)
``casing``        a fraction ``s`` of the words re-cased: UPPER, lower, Title
                  or sWAPPED, at random
================  =============================================================
"""

__all__ = ["TEXT_CORRUPTIONS"]

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _neighbours():
    position = {c: (r, k) for r, row in enumerate(_ROWS) for k, c in enumerate(row)}
    table = {}
    for c, (r, k) in position.items():
        near = []
        for dr in (-1, 0, 1):
            for dk in (-1, 0, 1):
                if dr == dk == 0:
                    continue
                rr, kk = r + dr, k + dk
                if 0 <= rr < len(_ROWS) and 0 <= kk < len(_ROWS[rr]):
                    near.append(_ROWS[rr][kk])
        table[c] = "".join(near)
    return table


#: Keyboard neighbours (same row and the rows above and below) of each letter.
KEYBOARD_NEIGHBOURS = _neighbours()


def typos(text, severity, rng):
    chars = list(text)
    hit = rng.random(len(chars)) < 0.3 * severity
    picks = rng.random(len(chars))
    for k in hit.nonzero()[0]:
        c = chars[k]
        near = KEYBOARD_NEIGHBOURS.get(c.lower())
        if not near:
            continue
        new = near[int(picks[k] * len(near))]
        chars[k] = new.upper() if c.isupper() else new
    return "".join(chars)


def word_dropout(text, severity, rng):
    words = text.split()
    keep = rng.random(len(words)) >= 0.8 * severity
    if not keep.any():
        keep[int(rng.integers(len(words)))] = True
    return " ".join(w for w, k in zip(words, keep) if k)


def word_swap(text, severity, rng):
    words = text.split()
    n = round(severity * len(words))
    if n < 2:
        return " ".join(words)
    chosen = rng.choice(len(words), size=n, replace=False)
    # a cyclic shift of the chosen positions, in random order: every chosen
    # word moves
    moved = list(words)
    for src, dst in zip(chosen, [*chosen[1:], chosen[0]]):
        moved[dst] = words[src]
    return " ".join(moved)


_CASES = (str.upper, str.lower, str.title, str.swapcase)


def casing(text, severity, rng):
    words = text.split()
    n = round(severity * len(words))
    chosen = rng.choice(len(words), size=n, replace=False) if n else []
    for k in chosen:
        words[k] = _CASES[int(rng.integers(len(_CASES)))](words[k])
    return " ".join(words)


#: Text corruptions by name.
TEXT_CORRUPTIONS = {
    "typos": typos,
    "word_dropout": word_dropout,
    "word_swap": word_swap,
    "casing": casing,
}
