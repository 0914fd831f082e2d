"""Offline, deterministic rule parser: one chat message -> canonical actions (contract v1).

Pipeline:
1. paths are cut out of the raw text (kept verbatim) and replaced by placeholders;
2. NFKC + ASCII lower-casing (a case-preserving copy stays aligned for vertebra levels);
3. English typos are corrected towards the keyword vocabulary;
4. the message is split into clauses at connectors ("and", "then", ",", 然后, 再 ...) and where
   a second action verb starts inside a clause ("清空后添加一个点");
5. each clause is decided by ordered rules (most specific intent first); a clause without a verb
   either borrows the previous clause's verb ("clear points and boxes") or lends its slots to a
   neighbour ("segment L1 and L2", "在冠状位，分割L4");
6. clauses that are not requests (negations, comments, definition questions) give nothing, and
   a message with no action at all gives ``[{"action": "unknown"}]``: never a guess.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Final

from . import lexicon as lx
from .levels import blank_levels, first_level, levels_in
from .normalize import lower_ascii, nfkc, strip_controls
from .numbers import EN_NUMBER, ZH_NUMBER, to_int
from .paths import find_paths
from .schema import (
    LEVEL_LETTER_ANY_CASE,
    LEVEL_NUMBER,
    MAX_ACTIONS,
    MAX_COUNT,
    MAX_STEPS,
    make_action,
    unknown,
)
from .typos import TypoFixer

_log = logging.getLogger(__name__)

#: Longer input is not a typed command (and would only cost time): answer "unknown" at once.
MAX_MESSAGE_CHARS: Final = 2000
_PLACEHOLDER_BASE: Final = 0xE000  # private-use characters stand for paths inside the text
_PLACEHOLDER_RE: Final = re.compile("[\ue000-\uf8ff]")

_FIXER: Final = TypoFixer(lx.vocabulary())

# Words that carry no request on their own (stripped before "is this clause only X?" checks).
_FILLERS: Final = re.compile(
    r"(?<![a-z])(?:please|pls|plz|ok|okay|now|just|so|then|and|also|the|a|an|to|into|for|me|us|my|this|that|"
    r"current|can|could|would|will|you|i|we|let's|lets|want|like|need|go|ahead|hey|hi|one|view|mode|again|"
    r"thanks|thank|quickly|first|it|do|on|in|at|of|with|by|over|there|here)(?![a-z])"
    r"|请|帮我|帮忙|麻烦|给我|你|先|现在|一下|吧|呢|啊|呀|好|的|个|了|把|就|再|即可|可以|能|一个"
)
_PUNCT_SPACE: Final = re.compile(r"[\s,.;:!?'\"()\[\]{}<>~`@#$%^&*_+=|\\/-]+")
_LEADING_FILLER: Final = re.compile(
    r"^(?:\s|[,.;:!?]|(?<![a-z])(?:please|pls|plz|ok|okay|now|just|so|then|and|also|first|hey|hi|hello|"
    r"can you|could you|would you|will you|can i|could i|may i|let me|let's|lets|i want to|i'd like to|"
    r"i would like to|i need to|"
    r"go ahead and|kindly|quickly)(?![a-z])|请|帮我|帮忙|麻烦|给我|你|先|现在|把)+"
)
_PREPOSITION_START: Final = re.compile(
    r"^(?:(?:in|on|at|using|with|for|from|under|via)(?![a-z])|在|用|于|对)"
)
_HOWTO: Final = re.compile(
    r"(?<![a-z])how (?:do|can|should|would) (?:i|we|you)(?![a-z])|(?<![a-z])how to(?![a-z])"
    r"|(?:怎么|如何|怎样)(?:才能|可以|来|去)?(?:用|使用|操作|添加|加|分割|保存|打开|加载|导入|切换|清除|删除|画|标记|设置)"
)
_WHAT_MEAN: Final = re.compile(r"(?<![a-z])what (?:does|do) .{1,40} mean(?![a-z])")
_COMPOUND_MASK: Final = re.compile(
    r"(?<![a-z])(?:point|points|box|boxes|bbox)[\s-]*(?:mask|masks|segmentation)(?![a-z])"
)
_STRONG_VIEW_VERB: Final = re.compile(
    r"(?<![a-z])(?:switch|change|show|display|go|toggle|open|bring up)(?![a-z])|切换|切到|转到|显示|打开|进入"
)
_SHOW_WORDS: Final = re.compile(r"(?<![a-z])(?:show|display|view|see|look|hide)(?![a-z])|显示|查看|看")
_CHECK_WORDS: Final = re.compile(
    r"(?<![a-z])(?:check|verify|validate|compute|calculate|evaluate|test|confirm|inspect)(?![a-z])"
    r"|检查|验证|校验|计算|评估|查看|测试"
)
_SLOT_WORDS: Final = re.compile(
    r"(?<![a-z])(?:in|on|at|using|use|with|from|to|under|via|between|and|the|a|of|only|also|level|levels|"
    r"vertebra|vertebrae|spine)(?![a-z])|在|用|于|上|中|里|的|椎体|椎|节"
)
_GEN_ALONE: Final = re.compile(r"(?<![a-z])(?:generate|produce)(?![a-z])|生成|产生")
_STATEMENT: Final = re.compile(
    r"^(?:the|this|that|it|its|these|those|my|our|there|everything)(?![a-z]).*"
    r"(?<![a-z])(?:is|are|was|were|looks?|seems?|s|isn't|aren't|has|have|had)(?![a-z])"
)
_MOVE_VERB: Final = re.compile(r"(?<![a-z])(?:skip|advance|move|jump|scroll|go|flip|page)(?![a-z])|翻|跳")
_WH_START: Final = re.compile(r"(?:what|which|where|why|when|who|whose|how)(?![a-z])|为什么|什么")
_NOT_ASKED_BY_QUESTIONS: Final = frozenset(
    {"navigate", "load_volume", "segment", "add_points", "add_box", "set_view", "set_window", "clear", "save"}
)
_NOUN_DETERMINER: Final = re.compile(r"(?<![a-z])(?:the|my|last|that|this|an?)\s+$")
_STATE_QUESTION: Final = re.compile(
    r"^(?:is|are|was|were|has|have|did)(?![a-z]).*(?<![a-z])(?:finished|done|complete|completed|ready|over)(?![a-z])"
)
_NAV_UNIT: Final = re.compile(r"slice|image|frame|slide|page|张|页|层|帧")
_VIEW_TARGET: Final = re.compile(r"(?<![a-z])(?:to|into|as)(?![a-z])|到|成|为|至")

_EN_COUNT: Final = re.compile(
    rf"(?<![a-z0-9])({EN_NUMBER}|a couple of|couple of|a pair of|pair of|a|an|another|single|one more)"
    r"\s+(?:[a-z]+\s+){0,3}?(?:point|points|pt|pts|dot|dots|click|clicks|seed|seeds|landmarks?|markers?|"
    r"fiducials?)(?![a-z])"
)
_ZH_COUNT: Final = re.compile(
    rf"({ZH_NUMBER})\s*[个枚颗处]?\s*[\u4e00-\u9fff]{{0,3}}?(?:点|points?|pts?|dots?)"
)
_EN_ANY_NUMBER: Final = re.compile(
    rf"(?<![a-z0-9.])({EN_NUMBER}|twice|thrice|a couple of|a pair of)(?![0-9a-z])"
)
_ZH_CLASSIFIED_NUMBER: Final = re.compile(rf"({ZH_NUMBER})\s*(?:个|张|页|层|帧|幅|片|次|点|枚|步|格)")


@dataclass
class _Decision:
    """What one clause asks for: an action name, its slots, and the verb that said it."""

    action: str
    slots: dict[str, Any] = field(default_factory=dict)
    verb: str = ""


_REJECT: Final = _Decision("__reject__")  # a clause that is explicitly not a request


@dataclass
class _Clause:
    text: str  # lower-cased, typo-fixed; paths are placeholders
    cased: str  # same characters, original case (levels need "L 3" vs "it's 1")
    joiner: str = " "  # the connector text before this clause, used when clauses merge


def parse(text: str) -> list[dict[str, Any]]:
    """Turn one chat message into canonical actions, in the order they were asked for.

    Never raises: a bug or an unexpected input gives ``[{"action": "unknown"}]``.
    """
    try:
        return _parse(text)
    except Exception:  # noqa: BLE001 - the chat must answer every message, whatever happens
        # A bug of ours, so logged where it is seen (ERROR, with the traceback); the message itself is
        # not logged: it may name a patient.
        _log.error("offline parser failed on a message of %d characters", len(text), exc_info=True)
        return [unknown()]


def _parse(text: str) -> list[dict[str, Any]]:
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_MESSAGE_CHARS:
        return [unknown()]
    masked, paths = _mask_paths(strip_controls(text))
    cased = nfkc(masked)
    lowered = lower_ascii(cased)
    lowered, cased = _fix_typos(lowered, cased)
    clauses = _split(lowered, cased)
    actions = _resolve(clauses, paths)
    if not actions and paths:
        # A message that is only a path: the user dropped a file into the chat.
        actions = [make_action("load_volume", path=paths[0])]
    return actions[:MAX_ACTIONS] or [unknown()]


# --- preprocessing --------------------------------------------------------------------------------


def _mask_paths(raw: str) -> tuple[str, list[str]]:
    """Replace each path by one private-use character; return the text and the paths in order."""
    spans = find_paths(raw)[: 0xF8FF - _PLACEHOLDER_BASE]
    pieces, last = [], 0
    for i, span in enumerate(spans):
        pieces.append(raw[last : span.start])
        pieces.append(f" {chr(_PLACEHOLDER_BASE + i)} ")
        last = span.end
    pieces.append(raw[last:])
    return "".join(pieces), [span.path for span in spans]


def _fix_typos(lowered: str, cased: str) -> tuple[str, str]:
    """Apply the same word corrections to both copies so they stay aligned."""
    fixes = _FIXER.fix(lowered)
    if not fixes:
        return lowered, cased
    low_parts, cased_parts, last = [], [], 0
    for start, end, word in fixes:
        low_parts += [lowered[last:start], word]
        cased_parts += [cased[last:start], word]
        last = end
    low_parts.append(lowered[last:])
    cased_parts.append(cased[last:])
    return "".join(low_parts), "".join(cased_parts)


def _split(lowered: str, cased: str) -> list[_Clause]:
    """Clauses at connectors, then at a second action verb of another kind inside a clause."""
    clauses: list[_Clause] = []
    last, joiner = 0, " "
    for match in lx.CONNECTOR.finditer(lowered):
        if match.start() > last:
            clauses.extend(
                _split_on_verbs(lowered[last : match.start()], cased[last : match.start()], joiner)
            )
        joiner = match.group(0) or " "
        last = match.end()
    if last < len(lowered):
        clauses.extend(_split_on_verbs(lowered[last:], cased[last:], joiner))
    return [c for c in clauses if c.text.strip()]


def _split_on_verbs(text: str, cased: str, joiner: str) -> list[_Clause]:
    verbs = sorted(
        (m.start(), m.end(), kind) for kind, pattern in lx.ACTION_VERBS for m in pattern.finditer(text)
    )
    cuts, prev_kind, prev_end = [], None, -1
    for start, end, kind in verbs:
        if start < prev_end:
            continue  # overlaps the previous verb ("删除" inside "删")
        noun_use = _NOUN_DETERMINER.search(text[:start])  # "redo the last undo": a noun, not a verb
        if prev_kind is not None and kind != prev_kind and text[prev_end:start].strip() and not noun_use:
            cuts.append(start)
        prev_kind, prev_end = kind, end
    bounds = [0, *cuts, len(text)]
    return [
        _Clause(text[a:b], cased[a:b], joiner if i == 0 else " ")
        for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False))
    ]


# --- clause resolution (merging, verb borrowing) -----------------------------------------------


def _resolve(clauses: list[_Clause], paths: list[str]) -> list[dict[str, Any]]:
    decided: list[tuple[_Clause, _Decision]] = []
    pending: list[_Clause] = []  # verb-less slot clauses waiting for the next request
    for clause in clauses:
        if pending:
            clause, pending = _merge([*pending, clause]), []
        if decided and not _has_verb(clause.text):
            attached = _attach(decided[-1], clause, paths)
            if attached is not None:
                decision, new_clause, replace = attached
                if replace:
                    decided[-1] = (new_clause, decision)
                else:
                    decided.append((new_clause, decision))
                continue
        decision = _decide(clause, paths)
        if decision is None:
            pending = [clause] if _has_slots(clause) else []
        elif decision is not _REJECT:
            decided.append((clause, decision))
    return _dedupe([_build(decision) for _, decision in decided])


def _attach(
    previous: tuple[_Clause, _Decision], clause: _Clause, paths: list[str]
) -> tuple[_Decision, _Clause, bool] | None:
    """A verb-less clause after a request. "and boxes" borrows the verb ("clear boxes": a new
    action); "and L2" / "on the sagittal view" only adds slots (replaces the previous action).
    None when the clause stands on its own ("and bone window")."""
    prev_clause, prev = previous
    # After a segment request, verb-less words are its slots ("segment using points and box").
    if prev.verb and prev.action != "segment" and _has_object(clause.text):
        borrowed = _Clause(f"{prev.verb} {clause.text}", f"{prev.verb} {clause.cased}", clause.joiner)
        decision = _decide(borrowed, paths)
        if decision is not None and decision is not _REJECT:
            return decision, borrowed, False
    if _slot_only(clause, prompts=prev.action == "segment"):
        merged = _merge([prev_clause, clause])
        decision = _decide(merged, paths)
        absorbed = decision is not None and decision.action == prev.action and decision.slots != prev.slots
        if (
            absorbed
        ):  # the slots were used ("segment L1" + "and L2"), not ignored ("next slice" + "coronal view")
            return decision, merged, True
    return None


def _dedupe(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ "show the dice and the HD95" is one metrics request, not two."""
    out: list[dict[str, Any]] = []
    for action in actions:
        if out and action == out[-1] and action["action"] in _ONCE:
            continue
        out.append(action)
    return out


_ONCE: Final = frozenset({"show_metrics", "device_status", "verify_model", "report", "help", "unknown"})


def _merge(clauses: list[_Clause]) -> _Clause:
    text, cased = clauses[0].text, clauses[0].cased
    for c in clauses[1:]:
        text += c.joiner + c.text
        cased += c.joiner + c.cased
    return _Clause(text, cased, clauses[0].joiner)


def _has_verb(text: str) -> bool:
    verbs = (lx.CLEAR_VERB, lx.ADD_VERB, lx.SEG_VERB, lx.GEN_VERB, lx.SAVE_VERB, lx.LOAD_VERB, lx.OPEN_VERB)
    return any(p.search(text) for p in (*verbs, _STRONG_VIEW_VERB, _CHECK_WORDS, lx.UNDO, lx.REDO, lx.HELP))


def _has_object(text: str) -> bool:
    nouns = (
        lx.POINT_NOUN,
        lx.BOX_NOUN,
        lx.MASK_NOUN,
        lx.MODEL_NOUN,
        lx.DEVICE_NOUN,
        lx.METRIC_STRONG,
        lx.IMAGE_NOUN,
    )
    return any(p.search(text) for p in nouns)


def _slot_only(clause: _Clause, prompts: bool = False) -> bool:
    """Only slot words: levels, views, scope, paths, numbers and fillers ("and L2", "in 3D");
    with ``prompts`` also prompt words ("and box" after a segment request)."""
    rest = lower_ascii(blank_levels(clause.cased))
    if prompts:
        rest = lx.BOX_PROMPT.sub(" ", lx.POINT_PROMPT.sub(" ", rest))
    for pattern in (
        _PLACEHOLDER_RE,
        lx.AXIAL,
        lx.SAGITTAL,
        lx.CORONAL,
        lx.THREE_D,
        lx.VIEW_NOUN,
        lx.VOLUME_SCOPE,
        _SLOT_WORDS,
    ):
        rest = pattern.sub(" ", rest)
    return _only(rest)


def _has_slots(clause: _Clause) -> bool:
    return bool(
        levels_in(clause.cased)
        or _PLACEHOLDER_RE.search(clause.text)
        or _view_value(clause.text)
        or lx.VOLUME_SCOPE.search(clause.text)
        or lx.NEGATIVE.search(clause.text)
    )


def _build(decision: _Decision) -> dict[str, Any]:
    return make_action(decision.action, **decision.slots)


# --- the rules ------------------------------------------------------------------------------------


def _decide(clause: _Clause, paths: list[str]) -> _Decision | None:
    """The request in one clause, _REJECT for a non-request, or None when it has no verb/intent."""
    t = clause.text
    if not _PUNCT_SPACE.sub("", t):
        return None
    named = _rule_name_level(clause, paths)  # "this is L4" reads like a statement, and is a request
    if named is not None:
        return named
    if _is_not_a_request(t):
        return _REJECT
    for rule in _RULES:
        decision = rule(clause, paths)
        if decision is not None:
            if decision.action in _NOT_ASKED_BY_QUESTIONS and _WH_START.match(
                _LEADING_FILLER.sub("", t.strip())
            ):
                return _REJECT  # "what does the sagittal view show?" asks about, not for, a view
            return decision
    return None


def _is_not_a_request(t: str) -> bool:
    """Negations ("don't save"), definition questions ("what is a bounding box"), and comments
    ("这个骨窗看得很清楚", "the mask looks good") are talk about the tool, not requests."""
    if lx.NEGATION.search(t):
        return True
    if (lx.DEFINITION.search(t) or _WHAT_MEAN.search(t)) and not lx.HELP.search(t):
        return True
    if _STATEMENT.match(t.strip()) or _STATE_QUESTION.match(t.strip()):
        return True
    return bool(lx.COMMENTARY.search(t)) and not _starts_like_command(t)


def _starts_like_command(t: str) -> bool:
    rest = _LEADING_FILLER.sub("", t.strip())
    starters = (
        lx.UNDO,
        lx.REDO,
        lx.HELP,
        lx.CLEAR_VERB,
        lx.ADD_VERB,
        lx.SEG_VERB,
        lx.GEN_VERB,
        lx.SAVE_VERB,
        lx.LOAD_VERB,
        lx.OPEN_VERB,
        lx.NAV_NEXT,
        lx.NAV_PREV,
    )
    strong = re.compile(
        r"(?:switch|change|show|display|go|check|verify|validate|compute|calculate|evaluate|use|see|view|look|"
        r"give|bring|take|move|scroll)"
        r"(?![a-z])|切换|切到|转到|显示|检查|验证|计算|评估|用"
    )
    return any(p.match(rest) for p in (*starters, strong))


def _rule_howto(clause: _Clause, paths: list[str]) -> _Decision | None:
    # "how do I add points?" asks for instructions, not for points.
    return _Decision("help") if _HOWTO.search(clause.text) else None


def _rule_undo_redo(clause: _Clause, paths: list[str]) -> _Decision | None:
    t = clause.text
    redo = lx.REDO.search(t)
    if redo and not (lx.SEG_VERB.search(t) or re.search(r"(?<![a-z])segmentation(?![a-z])", t)):
        return _Decision("redo", verb=redo.group(0))  # "redo the segmentation" means segment again
    undo = lx.UNDO.search(t)
    if undo is None:
        return None
    word = undo.group(0)
    if ("step" in word or "back" in word) and _NAV_UNIT.search(t):
        return None  # "step back two slices" moves through the images
    return _Decision("undo", verb=word)


def _rule_clear(clause: _Clause, paths: list[str]) -> _Decision | None:
    t = clause.text
    verb = lx.CLEAR_VERB.search(t)
    if not verb:
        return None
    target = _clear_target(t[verb.end() :] + " " + t[: verb.start()])
    return _REJECT if target is None else _Decision("clear", {"target": target}, verb.group(0))


def _clear_target(t: str) -> str | None:
    """points / boxes / mask / all from the words around a clear verb; None for things that are not
    ours to delete ("delete files")."""
    if _COMPOUND_MASK.search(t):
        return "mask"
    found = [
        (m.start(), target)
        for target, pattern in (("points", lx.POINT_NOUN), ("boxes", lx.BOX_NOUN), ("mask", lx.MASK_NOUN))
        if (m := pattern.search(t))
    ]
    if found:
        return min(found)[1]
    if lx.CLEAR_BLACKLIST.search(t):
        return None
    return "all"


def _rule_save(clause: _Clause, paths: list[str]) -> _Decision | None:
    verb = lx.SAVE_VERB.search(clause.text)
    if not verb:
        return None
    return _Decision("save", {"path": _path_in(clause, paths)}, verb.group(0))


def _rule_load_with_path(clause: _Clause, paths: list[str]) -> _Decision | None:
    # Checked before metrics: "load the ground truth C:\gt.nii.gz" opens a file.
    verb = lx.LOAD_VERB.search(clause.text) or lx.OPEN_VERB.search(clause.text)
    path = _path_in(clause, paths)
    if verb and path is not None:
        return _Decision("load_volume", {"path": path}, verb.group(0))
    return None


def _rule_metrics(clause: _Clause, paths: list[str]) -> _Decision | None:
    t = clause.text
    if lx.METRIC_STRONG.search(t) or (lx.METRIC_WEAK.search(t) and not _has_verb(t)):
        return _Decision("show_metrics", verb=_first(t, lx.CHECK_VERB, lx.GEN_VERB))
    return None


def _rule_device(clause: _Clause, paths: list[str]) -> _Decision | None:
    t = clause.text
    if lx.DEVICE_NOUN.search(t) and not lx.SEG_VERB.search(t):
        return _Decision("device_status", verb=_first(t, lx.CHECK_VERB))
    return None


# An opinion asked about the model ("is the model any good?", "模型准吗？") is not a request to check its
# parameters: it gets no action (issue: no misfires).
_MODEL_QUALITY: Final = re.compile(
    r"(?<![a-z])(?:any good|good|accurate|reliable|trustworthy|better|worse|how well)(?![a-z])"
    r"|准吗|准不准|准确吗|好吗|好不好|靠谱|可靠吗|行不行"
)


def _rule_verify(clause: _Clause, paths: list[str]) -> _Decision | None:
    t = clause.text
    if lx.SEG_VERB.search(t) or (_MODEL_QUALITY.search(t) and not lx.PARAM_NOUN.search(t)):
        return None
    if lx.PARAM_NOUN.search(t) or (
        lx.MODEL_NOUN.search(t) and (lx.CHECK_VERB.search(t) or lx.LOAD_VERB.search(t))
    ):
        return _Decision("verify_model", verb=_first(t, lx.CHECK_VERB))
    return None


# "this is L4", "that vertebra is T12", "call it L3", "这是L4", "这个是腰4": a name for a vertebra.
_NAME_LEVEL: Final = re.compile(
    r"^\s*(?:(?:so|ok|okay|no|actually|and)[, ]+)?"
    r"(?:(?:this|that|it)(?: (?:vertebra|vertebral body|one|level|bone|segment))?"
    r" ?(?:is|'s|should be|must be|is actually)(?: the| a)?"
    r"|(?:call|name|label|rename|mark) (?:this|that|it)(?: (?:vertebra|one|segment))?(?: as| to)?)"
    rf"\s*(?P<level>{LEVEL_LETTER_ANY_CASE}\s?-?{LEVEL_NUMBER})\s*[.!。！]?\s*$"
    r"|^\s*(?:这|那)(?:个|块|节)?(?:椎体|椎骨|节段)?(?:是|为|叫)\s*(?P<zh>.{1,4}?)\s*[。！!.]?\s*$"
)


def _rule_name_level(clause: _Clause, paths: list[str]) -> _Decision | None:
    m = _NAME_LEVEL.match(clause.text)
    if m is None:
        return None
    level = first_level(clause.cased[m.start("level") if m.group("level") else m.start("zh") :])
    return _Decision("name_level", {"level": level}) if level else None


_REPORT: Final = re.compile(
    r"(?<![a-z])(?:spine|spinal|vertebral|vertebra|vertebrae|lumbar)\s+report(?![a-z])"
    r"|(?<![a-z])report (?:on|of|for) the (?:spine|vertebrae|lumbar spine)(?![a-z])"
    r"|(?<![a-z])(?:vertebral|vertebra|body|bodies)(?: body)? heights?(?![a-z])"
    r"|(?<![a-z])(?:height loss|compression fractures?|wedge deformit(?:y|ies)|genant)(?![a-z])"
    r"|^(?:(?:please )?(?:show|open|make|create|generate|give me|produce) )?(?:the |a )?report$"
    r"|脊柱报告|椎体高度|椎体报告|压缩骨折|楔形变|^(?:生成|显示|打开)?报告$"
)


def _rule_report(clause: _Clause, paths: list[str]) -> _Decision | None:
    t = clause.text
    if not _REPORT.search(t.strip(" .!?。！？")):
        return None
    return _Decision(
        "report", {"levels": levels_in(clause.cased)}, verb=_first(t, lx.CHECK_VERB, lx.GEN_VERB)
    )


def _rule_navigate(clause: _Clause, paths: list[str]) -> _Decision | None:
    t = clause.text
    nxt, prev = lx.NAV_NEXT.search(t), lx.NAV_PREV.search(t)
    direction = (
        min((m.start(), name) for m, name in ((nxt, "next"), (prev, "previous")) if m)[1]
        if nxt or prev
        else None
    )
    if direction is None and _MOVE_VERB.search(t) and _NAV_UNIT.search(t):
        direction = "next"  # "skip 4 slices", "翻两张"
    if direction is None or lx.SEG_VERB.search(t):
        return None  # "segment the next slice" is a segmentation request
    if lx.ADD_VERB.search(t) and (lx.POINT_NOUN.search(t) or lx.BOX_NOUN.search(t)):
        return None
    noun = lx.NAV_NOUN.search(t)
    if not noun and lx.QUESTION.search(t):
        return None  # "what is the next step?" is a question, not a move
    if not (noun or lx.NAV_VERB.search(t) or _only(t, lx.NAV_NEXT, lx.NAV_PREV)):
        return None
    steps = _steps(t)
    return _Decision("navigate", {"direction": direction, "steps": steps})


def _rule_load(clause: _Clause, paths: list[str]) -> _Decision | None:
    t = clause.text
    if _view_value(t) or _window_value(t):
        return None  # "open the sagittal view", "open bone window"
    verb = lx.LOAD_VERB.search(t)
    if not verb:
        verb = lx.OPEN_VERB.search(t)
        if not verb or not (lx.IMAGE_NOUN.search(t) or _only(t, lx.OPEN_VERB)):
            return None
    if lx.POINT_NOUN.search(t) or lx.BOX_NOUN.search(t):
        return None  # "select a box" adds a prompt
    return _Decision("load_volume", {"path": _path_in(clause, paths)}, verb.group(0))


def _rule_segment(clause: _Clause, paths: list[str]) -> _Decision | None:
    t = clause.text
    verb = lx.SEG_VERB.search(t)
    if verb is None:
        gen = lx.GEN_VERB.search(t)
        if gen and (
            lx.MASK_NOUN.search(t)
            or _GEN_ALONE.search(t)
            and not (lx.POINT_NOUN.search(t) or lx.BOX_NOUN.search(t))
        ):
            verb = gen
    if verb is None and not _segment_by_noun(t):
        return None
    return _Decision("segment", _segment_slots(clause), verb.group(0) if verb else "segment")


def _segment_by_noun(t: str) -> bool:
    """ "point mask", "segmentation of L3", "掩膜": a segmentation noun with no other verb."""
    if not lx.SEG_NOUN.search(t) or lx.ADD_VERB.search(t) or lx.QUESTION.search(t):
        return False
    if _SHOW_WORDS.search(t) and not levels_in(t):
        return False  # "show the mask" is not a request to compute one
    return True


def _segment_slots(clause: _Clause) -> dict[str, Any]:
    t = clause.text
    points, box = bool(lx.POINT_PROMPT.search(t)), bool(lx.BOX_PROMPT.search(t))
    prompt = "points" if points and not box else "box" if box and not points else "auto"
    if lx.AUTO_PROMPT.search(t):
        prompt = "auto"
    view = _view_value(t)
    volume = bool(lx.VOLUME_SCOPE.search(t)) or view == "3d"
    return {
        "prompt": prompt,
        "scope": "volume" if volume else "slice",
        "view": None if view == "3d" else view,
        "levels": levels_in(clause.cased),
    }


def _rule_add(clause: _Clause, paths: list[str]) -> _Decision | None:
    t = _COMPOUND_MASK.sub(" ", clause.text)  # "point mask" names a segmentation, not a point
    point, box = lx.POINT_NOUN.search(t), lx.BOX_NOUN.search(t)
    verb = lx.ADD_VERB.search(t) or lx.GEN_VERB.search(t)
    if not (point or box):
        if verb and (lx.POSITIVE.search(t) or lx.NEGATIVE.search(t)):
            # "add one positive (and one negative point)": the noun comes later
            slots = {"count": _count(t), "polarity": _polarity(t), "level": first_level(clause.cased)}
            return _Decision("add_points", slots, verb.group(0))
        return None
    if verb is None and not _verbless_add(t):
        return None
    level = first_level(clause.cased)
    verb_text = verb.group(0) if verb else "add"
    if point and (not box or point.start() < box.start()):
        slots = {"count": _count(t), "polarity": _polarity(t), "level": level}
        return _Decision("add_points", slots, verb_text)
    return _Decision("add_box", {"level": level}, verb_text)


def _verbless_add(t: str) -> bool:
    """ "2 negative points on L3", "a bounding box on L2": a prompt noun said as a request (but not
    "where are the points?" or "show the points")."""
    return not (lx.QUESTION.search(t) or _SHOW_WORDS.search(t) or lx.CHECK_VERB.search(t))


def _rule_view(clause: _Clause, paths: list[str]) -> _Decision | None:
    t = clause.text
    view = _view_value(t)
    if view is None:
        return None
    if _PREPOSITION_START.match(_LEADING_FILLER.sub("", t.strip())) and not _STRONG_VIEW_VERB.search(t):
        return None  # "on the sagittal view, ..." qualifies the next request
    if (
        lx.VIEW_VERB.search(t)
        or lx.VIEW_NOUN.search(t)
        or _only(t, lx.AXIAL, lx.SAGITTAL, lx.CORONAL, lx.THREE_D)
    ):
        return _Decision("set_view", {"view": view}, _first(t, lx.VIEW_VERB) or "show")
    return None


def _rule_window(clause: _Clause, paths: list[str]) -> _Decision | None:
    t = clause.text
    preset = _window_value(t)
    if preset is None:
        return None
    if lx.WINDOW_NOUN.search(t) or lx.VIEW_VERB.search(t) or _only(t, lx.BONE, lx.SOFT):
        return _Decision("set_window", {"preset": preset}, _first(t, lx.VIEW_VERB) or "use")
    return None


def _rule_help(clause: _Clause, paths: list[str]) -> _Decision | None:
    return _Decision("help") if lx.HELP.search(clause.text) else None


_RULES: Final = (
    _rule_howto,
    _rule_undo_redo,
    _rule_clear,
    _rule_save,
    _rule_load_with_path,
    _rule_report,  # before metrics and verify: "measure the vertebral heights" is the report
    _rule_metrics,
    _rule_device,
    _rule_verify,
    _rule_navigate,
    _rule_load,
    _rule_segment,
    _rule_add,
    _rule_view,
    _rule_window,
    _rule_help,
)


# --- slot helpers ---------------------------------------------------------------------------------


def _first(t: str, *patterns: re.Pattern[str]) -> str:
    for pattern in patterns:
        match = pattern.search(t)
        if match:
            return match.group(0)
    return ""


def _only(t: str, *patterns: re.Pattern[str]) -> bool:
    """True if, once these words, numbers, levels and filler words are removed, nothing is left."""
    rest = t
    for pattern in patterns:
        rest = pattern.sub(" ", rest)
    rest = _FILLERS.sub(" ", rest)
    rest = _EN_ANY_NUMBER.sub(" ", rest)
    rest = re.sub(rf"{ZH_NUMBER}", " ", rest)
    return not _PUNCT_SPACE.sub("", rest)


def _path_in(clause: _Clause, paths: list[str]) -> str | None:
    match = _PLACEHOLDER_RE.search(clause.text)
    if match is None:
        return None
    index = ord(match.group(0)) - _PLACEHOLDER_BASE
    return paths[index] if index < len(paths) else None


def _view_value(t: str) -> str | None:
    """The view a clause names; with two ("from axial to sagittal") the one after "to" wins."""
    found = sorted(
        (m.start(), name)
        for name, pattern in (
            ("axial", lx.AXIAL),
            ("sagittal", lx.SAGITTAL),
            ("coronal", lx.CORONAL),
            ("3d", lx.THREE_D),
        )
        for m in pattern.finditer(t)
    )
    if not found:
        return None
    if len({name for _, name in found}) > 1:
        target = _VIEW_TARGET.search(t)
        if target:
            after = [name for pos, name in found if pos >= target.end()]
            if after:
                return after[0]
        return found[-1][1]
    return found[0][1]


def _window_value(t: str) -> str | None:
    bone, soft = lx.BONE.search(t), lx.SOFT.search(t)
    if bone and soft:
        return "bone" if bone.start() > soft.start() else "soft_tissue"  # "from soft tissue to bone"
    return "bone" if bone else "soft_tissue" if soft else None


def _polarity(t: str) -> str:
    return "negative" if lx.NEGATIVE.search(t) else "positive"


def _count(t: str) -> int:
    """How many points: the number said right before the point noun, else any number, else 1."""
    t = blank_levels(t)
    for pattern in (_EN_COUNT, _ZH_COUNT):
        match = pattern.search(t)
        if match:
            value = _number_value(match.group(1))
            if value:
                return min(value, MAX_COUNT)
    return min(_any_number(t) or 1, MAX_COUNT)


def _steps(t: str) -> int:
    return min(_any_number(blank_levels(t)) or 1, MAX_STEPS)


def _any_number(t: str) -> int | None:
    candidates = []
    for pattern in (_EN_ANY_NUMBER, _ZH_CLASSIFIED_NUMBER):
        match = pattern.search(t)
        if match:
            candidates.append((match.start(), match.group(1)))
    for _, text in sorted(candidates):
        value = _number_value(text)
        if value:
            return value
    return None


def _number_value(text: str) -> int | None:
    text = text.strip()
    quantities = {"a couple of": 2, "couple of": 2, "a pair of": 2, "pair of": 2, "one more": 1}
    if text in quantities:
        return quantities[text]
    return to_int(text)
