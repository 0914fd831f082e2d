"""Typo correction of English words towards the parser's vocabulary ("segemnt" -> "segment").

Edit distance is optimal string alignment (a swap of two neighbours costs 1, the most common
typing slip), computed by rapidfuzz when it is installed; a small pure-Python fallback keeps
the parser working in a Slicer Python without rapidfuzz. Real English words near a keyword
("done" ~ "bone", "mark" ~ "mask", "text" ~ "next") are protected so they are never "fixed".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Final

try:  # rapidfuzz is a declared dependency; the fallback only matters inside a bare Slicer Python.
    from rapidfuzz.distance import OSA as _OSA
    from rapidfuzz.fuzz import ratio as _ratio

    _distance: Callable[..., int] = _OSA.distance
except ImportError:  # pragma: no cover - exercised only without rapidfuzz
    _OSA = None

    def _distance(a: str, b: str, score_cutoff: int | None = None) -> int:
        return _osa_distance(a, b)

    def _ratio(a: str, b: str) -> float:
        return 100.0 * (1 - _osa_distance(a, b) / max(len(a) + len(b), 1))


# Common words that are one or two edits from a keyword but mean something else.
PROTECTED: Final = frozenset(
    """
    a about above after again against ago ah all almost alone along already also although always am among an
    and another any anyone anything anyway are area around as ask asked at away bad bag bake ball band bank
    base bask be because been before being below best better between big bill bit blue bold bond bored both
    bother boy bring brown but buy by call calm came can cane card care case cave cell cent chair change
    cheap clean clever close cold come cone cook cool copy core corn cost could count cover crowd cute dad
    dark date day dead deal dear decent did die dime dine dish do does dog doing don done door dose down
    dream dress drew drink drive due during each ease east easy eat else end even ever every eye face fact
    fair fall far fast feed feel few fine fire first fish five food for form found four free from full fun
    funny game gave get girl give glad go god goes going gone good got great green grow had half hand hang
    happy hard has hate have he head hear heard heat held hell hello hi hey him his hold home hope hot
    hour house how i if in into is it its just keep kind knew know land large last late lead least leave
    left less let lie life like line lint list little live long look lord lose lost lot loud love low
    luck mad made mail main make male man many mark mast may maybe me mean meet men might mind mine miss
    mom more most move much must my name near neat need nest net never new news next nice night no none
    nor not note now of off oh ok okay old on once one only open or other our out oven over own page
    paint pain pair part party pass past path pay pen people pick pint place plan play plot point poor
    post print pull push quite rain ran rate read ready real red rest rice rich ride right ring road rock
    roll room root rose round rule run sad safe said sale same sand sane save saw say see seem self sell
    send sent set shall she ship shoe shop short should show side sign since sing sir sit size skin sky
    slow small snow so some son soon sort sound speak spice spot star start stay step still stop store
    story such sun sure take talk task tell ten test text than thank that the their them then there these
    they thing think this those though thus time tip to today told tone too took top toward town
    true try turn two type under until up upon us use used very wait walk wall want war warm was wash
    watch water wave way we weak wear weather week well went were wet what whatever when where whether
    which while white who whole whom whose why wide wife will wind wine wish with without woman won
    wonder wood word work world worry would write wrong yeah year yes yet you young your zone zoo joke
    jokes funny morning evening afternoon tonight tomorrow yesterday sunny rainy cloudy temperature
    height heights report reports body bodies
    lunch dinner breakfast coffee tea bye goodbye cheers sorry please thanks thx hmm hm um uh lol
    exit quit quiet set seat sea tape tap map mop nap lap cap cat hat rat sat bat fat vat
    bonus bones phone sign align design mean means meaning since spine spinal spin spit split
    sit site slit slim slide slim crop drop prop grab grid grip trip strip script
    saved saving loaded loading added adding cleared clearing segmented segmenting opened opening
    switched switching showed shown showing checked checking undone redone deleted deleting removed
    removing exported exporting generated generating drew drawn drawing placed placing viewed
    clicked moved moving went going done doing said says
    """.split()
)

_TOKEN_RE: Final = re.compile(r"[a-z]+")
_MIN_TARGET_LEN: Final = 3


class TypoFixer:
    """Corrects lower-case ASCII words to the closest vocabulary word, if close enough and unique."""

    def __init__(self, vocabulary: Iterable[str], protected: Iterable[str] = PROTECTED) -> None:
        self._known = frozenset(vocabulary) | frozenset(protected)
        self._targets = tuple(sorted(w for w in frozenset(vocabulary) if len(w) >= _MIN_TARGET_LEN))
        # Bound the cache: messages are short but the parser may run on arbitrary input.
        self.correct = lru_cache(maxsize=4096)(self._correct)

    def fix(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, replacement) for each misspelt word of a lower-cased text."""
        fixes = []
        for match in _TOKEN_RE.finditer(text):
            word = match.group(0)
            better = self.correct(word)
            if better != word:
                fixes.append((match.start(), match.end(), better))
        return fixes

    def _correct(self, word: str) -> str:
        if len(word) < 3 or len(word) > 20 or word in self._known:
            return word
        limit = 1 if len(word) <= 5 else 2
        best: list[tuple[int, bool, float, str]] = []
        for target in self._targets:
            if abs(len(target) - len(word)) > limit:
                continue
            dist = _distance(word, target, score_cutoff=limit)
            if dist > limit or not _plausible(word, target, dist):
                continue
            # Ties go to a pure letter swap ("loda" -> "load", not "lora"), then to the closer spelling.
            swapped = sorted(word) == sorted(target)
            best.append((dist, not swapped, -_ratio(word, target), target))
        if not best:
            return word
        best.sort()
        if len(best) > 1 and best[0][:3] == best[1][:3]:
            return word  # two equally good candidates: do not guess
        return best[0][3]


def _plausible(word: str, target: str, dist: int) -> bool:
    """Extra guards against over-correction of short or unrelated words."""
    if len(word) == 3:
        # Three letters: only a dropped letter of a 4-letter keyword with the same first letter
        # ("msk" -> "mask", "sve" -> "save").
        return len(target) == 4 and word[0] == target[0]
    if dist == 2:
        return word[0] == target[0]
    return True


def _osa_distance(a: str, b: str) -> int:
    """Optimal string alignment distance (Levenshtein + adjacent transposition)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[len(b)]
