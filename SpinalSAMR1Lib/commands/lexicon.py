"""Keyword tables of the offline parser, English and Chinese, compiled to regexes.

English phrases match whole ASCII words only (``(?<![a-z])...(?![a-z])`` rather than ``\\b``,
which fails next to Chinese characters as in "用points分割"); words inside a phrase may be
joined by spaces, hyphens or nothing ("bounding box", "bounding-box", "boundingbox").
Chinese entries are regex fragments matched as substrings (no tokeniser: jieba splits 矢状位).

The English words here are also the vocabulary the typo fixer corrects towards.
"""

from __future__ import annotations

import re
from typing import Final

from .numbers import EN_ORDINALS, EN_QUANTIFIERS, EN_TENS, EN_UNITS


def _en(phrases: tuple[str, ...]) -> str:
    alternatives = sorted(phrases, key=len, reverse=True)  # longest first: "soft tissue" before "soft"
    body = "|".join(r"[\s\-]*".join(map(re.escape, p.split())) for p in alternatives)
    return rf"(?<![a-z])(?:{body})(?![a-z])"


def term(en: tuple[str, ...] = (), zh: tuple[str, ...] = ()) -> re.Pattern[str]:
    """One regex for a concept: English whole-word phrases or Chinese fragments."""
    for fragment in zh:
        # Latin words belong in the English list: only there do they get word boundaries
        # (a bare "iou" would match inside "prev-iou-s").
        assert not re.match(r"[a-z0-9]", fragment), fragment
    parts = ([_en(en)] if en else []) + ([f"(?:{'|'.join(zh)})"] if zh else [])
    return re.compile("|".join(parts) if parts else r"(?!x)x")


_ALL_EN: list[tuple[str, ...]] = []


def _words(*phrases: str) -> tuple[str, ...]:
    """Register English phrases so their words join the typo-correction vocabulary."""
    _ALL_EN.append(phrases)
    return phrases


# fmt: off
# --- actions whose keywords are enough on their own -------------------------------------------
UNDO: Final = term(
    _words(
        "undo", "undo that", "undo it", "revert", "reverse that", "roll back", "rollback", "take that back",
        "take it back", "step back", "go back a step", "go back one step", "back one step", "previous step",
        "last step", "ctrl z", "ctrl+z", "cmd z", "oops", "cancel last", "cancel the last",
    ),
    (
        "撤销", "撤消", "撤回", "回退", "回滚", "上一步", "退回上一步", "后悔", "取消上一步", "取消刚才",
        "撤掉刚才",
    ),
)
REDO: Final = term(
    _words(
        "redo", "re do", "ctrl y", "ctrl+y", "ctrl shift z", "cmd shift z", "reapply", "re apply",
        "undo the undo",
    ),
    ("重做", "恢复", "反撤销", "取消撤销", "重新执行"),
)
HELP: Final = term(
    _words(
        "help", "what can you do", "what can i do", "what do you do", "what are you able to do",
        "what can you help", "what are your capabilities", "capabilities", "commands", "command list",
        "list commands", "available commands", "what commands", "how to use", "how do i use",
        "how does this work", "how does it work", "usage", "manual", "user guide", "tutorial", "features",
        "what do you support", "supported commands", "menu", "options", "show examples", "examples",
    ),
    (
        "帮助", "你能做什么", "你可以做什么", "能做什么", "可以做什么", "你会什么", "你会做什么",
        "有哪些功能", "有什么功能", "哪些功能", "功能列表", "哪些命令", "什么命令", "命令列表", "指令列表",
        "怎么用", "如何使用", "使用说明", "使用方法", "说明书", "教程", "求助", "支持哪些", "帮我做什么",
        "能帮什么",
    ),
)

# --- verbs ---------------------------------------------------------------------------------------
CLEAR_VERB: Final = term(
    _words(
        "clear", "clean", "clean up", "cleanup", "remove", "delete", "erase", "reset", "wipe", "discard",
        "get rid of", "throw away", "start over", "start again", "empty", "purge", "scrap", "trash",
    ),
    (
        "清空", "清除", "清掉", "清理", "清光", "清一下", "清零", "删", "移除", "去掉", "去除", "擦除",
        "擦掉", "抹掉", "重置", "重来", "丢掉", "扔掉", "拿掉",
    ),
)
ADD_VERB: Final = term(
    _words(
        "add", "place", "put", "draw", "insert", "create", "drop", "mark", "set", "click", "make", "plant",
        "append", "give me", "new", "select", "pick", "annotate", "specify", "define",
    ),
    (
        "添加", "加上", "加入", "加(?!载)", "增加", "新增", "放置", "放", "画", "标记", "标注", "打(?!开)",
        "点击", "设置", "设", "创建", "建立", "框选", "选择", "选", "圈",
    ),
)
SEG_VERB: Final = term(
    _words(
        "segment", "seg", "segmentate", "auto segment", "autosegment", "resegment", "re segment",
        "run segmentation", "do segmentation", "do the segmentation", "perform segmentation",
        "start segmentation", "begin segmentation", "execute segmentation", "launch segmentation",
        "run the segmentation", "perform the segmentation", "start the segmentation", "do a segmentation",
        "run a segmentation", "predict", "infer", "inference", "run inference", "run the model",
        "run model", "run sam", "run it", "run", "extract", "delineate", "outline", "contour",
    ),
    (
        "分割(?!结果|的结果|图|掩|效果|质量|精度|准确)", "分隔", "切割", "推理", "运行模型", "跑模型",
        "运行", "执行分割", "开始分割", "提取", "勾画", "预测", "抠出", "抠图",
    ),
)
GEN_VERB: Final = term(
    _words(
        "generate", "produce", "create", "make", "compute", "get", "build", "calculate", "obtain",
        "give me",
    ),
    ("生成", "产生", "得到", "获取", "计算", "做一个", "做个", "出一个"),
)
SAVE_VERB: Final = term(
    _words(
        "save", "save as", "export", "store", "write out", "write", "download", "persist", "dump",
    ),
    (
        "保存", "导出", "存储", "储存", "存到", "存为", "存成", "另存", "存一下", "存盘", "存下", "输出到",
        "保留结果",
    ),
)
LOAD_VERB: Final = term(
    _words(
        "load", "import", "read in", "read", "upload", "bring in",
    ),
    ("加载", "导入", "载入", "读取", "读入", "上传"),
)
OPEN_VERB: Final = term(
    _words(
        "open", "browse", "choose", "select", "pick",
    ),
    ("打开", "开启", "选择", "选取", "选一个", "浏览"),
)
VIEW_VERB: Final = term(
    _words(
        "switch", "change", "go", "show", "display", "view", "set", "use", "open", "toggle", "look", "see",
        "move", "jump", "turn", "flip", "bring up", "put", "make", "give me", "enter", "apply",
    ),
    (
        "切换", "切到", "转到", "换到", "换成", "换为", "显示", "看", "打开", "进入", "调到", "调成",
        "调为", "设置", "设为", "改为", "改成", "使用", "用", "进到", "到", "切成", "回到",
    ),
)
CHECK_VERB: Final = term(
    _words(
        "check", "verify", "validate", "test", "confirm", "inspect", "examine", "report", "tell me", "show",
        "display", "query", "is", "are", "does", "do", "can", "what", "which", "how much", "how",
        "make sure", "ensure", "audit", "diagnose",
    ),
    (
        "检查", "验证", "校验", "核对", "核验", "确认", "检测", "测试", "查看", "看看", "看一下", "查一下",
        "查询", "报告", "吗", "么", "是否", "有没有", "能不能", "对不对", "多少",
    ),
)

# --- nouns and values -----------------------------------------------------------------------------
POINT_NOUN: Final = term(
    _words(
        "point", "points", "pt", "pts", "dot", "dots", "click", "clicks", "seed", "seeds", "seed point",
        "seed points", "landmark", "landmarks", "marker", "markers", "control point", "control points",
        "fiducial", "fiducials",
    ),
    (
        "坐标点", "提示点", "种子点", "标记点", "控制点", "前景点", "背景点", "正点", "负点",
        "点(?!掩|mask|击|一下|儿)",
    ),
)
BOX_NOUN: Final = term(
    _words(
        "box", "boxes", "bbox", "bboxes", "bounding box", "bounding boxes", "rectangle", "rectangles",
        "rect", "roi", "rois", "region of interest", "bounding rectangle", "boxs",
    ),
    ("坐标框", "边界框", "矩形框", "包围框", "检测框", "提示框", "选框", "方框", "矩形", "框(?!掩|mask)"),
)
MASK_NOUN: Final = term(
    _words(
        "mask", "masks", "segmentation", "segmentations", "result", "results", "prediction", "predictions",
        "label", "labels", "label map", "labelmap", "overlay", "overlays", "contours", "output", "outputs",
    ),
    ("掩膜", "掩码", "掩模", "蒙版", "蒙板", "遮罩", "分割结果", "结果", "分割", "标签", "预测"),
)
SEG_NOUN: Final = term(
    _words(
        "segmentation", "mask", "masks", "mask generation",
    ),
    ("分割", "掩膜", "掩码", "掩模", "蒙版"),
)
POINT_PROMPT: Final = term(
    _words(
        "point", "points", "pt", "pts", "point prompt", "point prompts", "points prompt", "clicks", "dots",
        "point mask", "point based", "seed points",
    ),
    ("点掩膜", "点掩码", "点掩模", "点蒙版", "点提示", "用点", "基于点", "坐标点", "点"),
)
BOX_PROMPT: Final = term(
    _words(
        "box", "boxes", "bbox", "bounding box", "box prompt", "box mask", "box based", "rectangle", "roi",
    ),
    ("框掩膜", "框掩码", "框掩模", "框蒙版", "框提示", "用框", "基于框", "坐标框", "边界框", "矩形框", "框"),
)
AUTO_PROMPT: Final = term(
    _words(
        "auto", "automatic", "automatically", "everything",
    ),
    ("自动", "全自动"),
)
IMAGE_NOUN: Final = term(
    _words(
        "image", "images", "picture", "pictures", "ct", "cts", "scan", "scans", "volume", "file", "files",
        "dicom", "nifti", "nii", "series", "study", "case", "data", "dataset", "img", "photo", "ct scan",
        "ct volume", "ct image", "png", "jpg",
    ),
    ("图片", "图像", "影像", "文件", "数据", "体积", "扫描", "病例", "序列", "片子", "照片", "图"),
)
MODEL_NOUN: Final = term(
    _words(
        "model", "models", "weights", "weight", "checkpoint", "checkpoints", "ckpt", "parameters",
        "parameter", "params", "param", "state dict", "state_dict", "keys", "lora", "adapter", "network",
        "sam",
    ),
    ("模型", "权重", "参数", "检查点", "网络"),
)
PARAM_NOUN: Final = term(
    _words(
        "parameter", "parameters", "params", "param", "weights", "checkpoint", "ckpt", "state dict",
        "parameter matching", "weight matching", "model weights", "model parameters", "model integrity",
    ),
    ("参数", "权重", "检查点", "参数匹配"),
)
DEVICE_NOUN: Final = term(
    _words(
        "gpu", "gpus", "cuda", "graphics card", "graphic card", "video card", "vram", "device", "devices",
        "hardware", "cpu", "memory", "ram", "accelerator", "nvidia", "mps", "compute device",
    ),
    ("显卡", "显存", "设备", "内存", "硬件", "算力", "计算资源"),
)
METRIC_STRONG: Final = term(
    _words(
        "dice", "dsc", "dice score", "iou", "jaccard", "hd95", "hd", "hausdorff", "msd", "assd", "asd",
        "surface distance", "metric", "metrics", "evaluate", "evaluation", "eval", "score", "scores",
        "statistics", "stats", "accuracy", "ground truth", "groundtruth", "gt", "benchmark", "quantify",
    ),
    (
        "指标", "评估", "评价", "精度", "准确率", "准确度", "金标准", "真值", "豪斯多夫", "交并比",
        "相似系数", "得分", "分数", "量化",
    ),
)
METRIC_WEAK: Final = term(
    _words(
        "reference", "compare", "comparison", "overlap", "performance", "quality", "how good",
        "how accurate",
    ),
    ("参考", "对比", "比较", "重叠", "质量", "效果"),
)

AXIAL: Final = term(
    _words(
        "axial", "transverse", "transversal", "axial plane", "axial slice", "horizontal plane", "ax",
    ),
    (
        "轴位", "轴状位", "轴向", "轴面", "轴状面", "横断位", "横断面", "横截面", "横切面", "水平位",
        "水平面", "横断", "轴状",
    ),
)
SAGITTAL: Final = term(
    _words(
        "sagittal", "sagital", "saggital", "saggittal", "sag", "lateral",
    ),
    ("矢状位", "矢状面", "矢状", "侧位"),
)
CORONAL: Final = term(
    _words(
        "coronal", "frontal", "coronary", "cor",
    ),
    ("冠状位", "冠状面", "冠状", "正位"),
)
THREE_D: Final = term(
    _words(
        "3d", "3 d", "3-d", "three d", "three-d", "three dimensional", "threedimensional",
        "volume rendering", "3d rendering", "rendering", "render", "3d view",
    ),
    ("三维", "立体", "体渲染"),
)
VIEW_NOUN: Final = term(
    _words(
        "view", "views", "plane", "planes", "orientation", "layout", "perspective", "window", "panel",
        "display", "mode",
    ),
    ("视图", "视角", "平面", "视窗", "方向", "面", "位", "布局", "模式", "窗口"),
)
BONE: Final = term(
    _words(
        "bone", "bones", "bony", "osseous", "skeleton", "skeletal", "bone window", "bone preset",
    ),
    ("骨窗", "骨骼窗", "骨窗口", "骨窗位", "骨头窗", "骨(?=的?窗)"),
)
SOFT: Final = term(
    _words(
        "soft tissue", "softtissue", "soft", "tissue", "soft tissues", "abdomen", "abdominal",
        "mediastinum", "mediastinal", "soft-tissue",
    ),
    ("软组织窗", "软组织", "软窗", "腹部窗", "纵隔窗"),
)
WINDOW_NOUN: Final = term(
    _words(
        "window", "windowing", "preset", "presets", "window level", "level window", "wl", "ww", "contrast",
        "setting", "settings",
    ),
    ("窗", "窗宽", "窗位", "预设"),
)

NAV_NEXT: Final = term(
    _words(
        "next", "following", "forward", "forwards", "ahead", "onward", "onwards", "down", "advance",
    ),
    (
        "下一", "后一", "往后", "向后", '下(?=[一二两三四五六七八九十\\d]*[张页层帧幅个片])', "前进",
        "往下", "向下", "下张", "下页", "下个",
    ),
)
NAV_PREV: Final = term(
    _words(
        "previous", "prev", "prior", "preceding", "back", "backward", "backwards", "before", "earlier",
        "up", "last", "go back", "rewind",
    ),
    (
        "上一", "前一", "往前", "向前", '上(?=[一二两三四五六七八九十\\d]*[张页层帧幅个片])', "后退",
        "往上", "向上", "上张", "上页", "上个", "回退一",
    ),
)
NAV_NOUN: Final = term(
    _words(
        "slice", "slices", "image", "images", "slide", "slides", "frame", "frames", "picture", "pictures",
        "page", "pages", "section", "sections", "layer", "layers", "cut", "cuts", "one", "ones", "img",
        "imgs",
    ),
    ("张", "页", "层", "帧", "幅", "片", "切片", "图"),
)
NAV_VERB: Final = term(
    _words(
        "go", "move", "scroll", "skip", "jump", "advance", "flip", "turn", "page", "browse", "navigate",
        "proceed", "shift",
    ),
    (
        "翻", "跳", "移动", "滚动", "切换", "切到", "转到", "到", "去", "看", "显示", "前进", "后退", "走",
        "移",
    ),
)

POSITIVE: Final = term(
    _words(
        "positive", "foreground", "fg", "include", "inclusion", "inclusive", "inside", "object", "target",
        "plus", "pos",
    ),
    ("正", "前景", "阳性", "包含", "目标"),
)
NEGATIVE: Final = term(
    _words(
        "negative", "background", "bg", "exclude", "exclusion", "exclusive", "outside", "neg", "minus",
        "remove region",
    ),
    ("负", "背景", "阴性", "排除", "反向", "外部"),
)
ALL_WORD: Final = term(
    _words(
        "all", "everything", "every thing", "the lot", "whole thing", "screen", "canvas", "workspace",
        "scene", "annotations", "prompts", "all prompts", "entire", "anything", "it all", "them all",
    ),
    ("全部", "所有", "一切", "都", "全", "画面", "屏幕", "工作区", "提示"),
)
CLEAR_BLACKLIST: Final = term(
    _words(
        "file", "files", "folder", "folders", "directory", "directories", "disk", "drive", "database",
        "system", "computer", "history", "cache", "logs", "log", "patient", "patients", "view", "zoom",
        "window", "camera", "layout", "model", "weights", "checkpoint", "memory", "chat", "conversation",
        "messages", "message", "input", "text",
    ),
    (
        "文件", "文件夹", "目录", "硬盘", "磁盘", "数据库", "系统", "电脑", "历史", "缓存", "日志", "病人",
        "患者", "模型", "权重", "聊天", "对话", "记录", "视图", "缩放",
    ),
)

VOLUME_SCOPE: Final = term(
    _words(
        "whole volume", "entire volume", "full volume", "the volume", "this volume", "volume", "all slices",
        "every slice", "each slice", "all the slices", "all of the slices", "whole scan", "entire scan",
        "full scan", "whole stack", "entire stack", "whole series", "entire series", "volumetric", "3d",
        "3 d", "3-d", "three d", "three dimensional", "in 3d", "whole ct", "entire ct", "whole image stack",
    ),
    (
        "整个体积", "全体积", "整个体", "体积", "整体", "所有切片", "全部切片", "所有层", "全部层",
        "每一层", "每层", "每张", "每一张", "所有图像", "全部图像", "整个序列", "三维", "立体", "整个扫描",
        "整卷", "全卷", "整个ct", "全部的切片",
    ),
)

# --- message kinds that are not requests ---------------------------------------------------------
NEGATION: Final = term(
    _words(
        "don't", "dont", "do not", "never", "no need", "not yet", "shouldn't", "should not", "needn't",
        "need not", "mustn't", "must not", "won't", "wont", "no longer", "stop", "didn't", "did not",
    ),
    ("不要", "(?<!识)别(?!的)", "不用", "不需要", "无需", "先不", "不必", "甭", "勿", "没必要", "不想"),
)
COMMENTARY: Final = term(
    _words(
        "looks", "look good", "looks good", "looked", "looking good", "seems", "seemed", "is good",
        "is great", "is nice", "is clear", "is fine", "is perfect", "is bad", "is wrong", "is better",
        "is worse", "is beautiful", "is amazing", "is awesome", "is accurate", "is correct", "is blurry",
        "is fast", "is slow", "are good", "are great", "are fine", "are wrong", "is very", "is really",
        "is so", "is pretty", "is quite", "was", "were", "i like", "i love", "i think", "i guess", "i saw",
        "already", "nice work", "good job", "great job", "well done", "thanks", "thank you", "thx", "cool",
        "awesome", "wow", "great", "nice", "impressive", "i see", "got it", "i did", "i just", "is done",
        "is finished", "is complete", "is completed", "are done", "is ready",
    ),
    (
        "看得", "看起来", "好像", "似乎", "很清楚", "清楚", "清晰", "不错", "很好", "挺好", "真好", "好看",
        "漂亮", "太棒", "完美", "厉害", "很准", "准确", "模糊", "太慢", "太快", "很快", "很慢", "我觉得",
        "我认为", "感觉", "已经", "谢谢", "多谢", "辛苦", "好的", "了解", "明白",
    ),
)
DEFINITION: Final = term(
    _words(
        "what is a", "what's a", "what is an", "meaning of", "define", "definition", "explain",
        "what is meant", "stand for", "stands for", "why",
    ),
    ("什么是", "是什么意思", "什么意思", "的定义", "解释", "为什么", "为啥", "是谁", "什么时候", "是什么"),
)
REQUEST: Final = term(
    _words(
        "please", "pls", "plz", "can you", "could you", "would you", "will you", "let's", "lets", "i want",
        "i'd like", "i would like", "i need", "go ahead", "now",
    ),
    ("请", "帮我", "帮忙", "麻烦", "给我", "能不能", "能否", "可不可以", "可以吗", "一下", "吧"),
)
QUESTION: Final = term(
    _words(
        "what", "how", "why", "which", "who", "when", "where", "whats", "what's",
    ),
    (
    ),
)

# fmt: on

# Split points between clauses; the text between two of them is one request.
CONNECTOR: Final = re.compile(
    r"\s*(?:[,;!?]|\.(?=\s|$|[^\x00-\x7f])"
    r"|(?<![a-z])(?:and then|and also|and|then|after that|afterwards|afterward|followed by|also)(?![a-z])"
    r"|然后|接着|之后|随后|再|并且|并|同时|以及|和|及|还有)\s*"
)

# Verbs that start a new action inside one clause without a connector ("清空后添加一个点").
ACTION_VERBS: Final[tuple[tuple[str, re.Pattern[str]], ...]] = (
    ("clear", CLEAR_VERB),
    (
        "add",
        term(
            ("add", "place", "put", "draw", "insert"),
            ("添加", "加上", "增加", "新增", "放置", "画", "标记", "框选"),
        ),
    ),
    (
        "segment",
        term(
            ("segment", "generate", "predict"),
            ("分割(?!结果|的结果|图|掩|效果|质量|精度|准确)", "生成", "推理", "运行"),
        ),
    ),
    ("save", term(("save", "export"), ("保存", "导出", "存储", "另存"))),
    ("load", term(("load", "open", "import"), ("打开", "加载", "导入", "载入", "读取"))),
    ("view", term(("switch", "change"), ("切换", "切到", "转到", "换到", "显示"))),
    ("undo", term(("undo", "revert"), ("撤销", "撤消", "撤回"))),
    ("redo", term(("redo",), ("重做",))),
    (
        "check",
        term(
            ("check", "verify", "validate", "compute", "calculate", "evaluate"),
            ("检查", "验证", "校验", "计算", "评估"),
        ),
    ),
)

_NUMBER_WORDS: Final = (*EN_UNITS, *EN_TENS, "hundred", *EN_QUANTIFIERS, *EN_ORDINALS)
_EXTRA_VOCAB: Final = (
    "lumbar",
    "thoracic",
    "cervical",
    "sacral",
    "sacrum",
    "vertebra",
    "vertebrae",
    "vertebral",
    "spine",
    "level",
    "levels",
    "and",
    "then",
    "view",
    "window",
    "please",
    "slice",
    "slices",
    "more",
    "extra",
    "additional",
    "using",
    "with",
    "from",
    "into",
    "the",
    "this",
    "that",
    "current",
    "whole",
    "entire",
    "every",
    "mask",
    "generation",
    "prompt",
    "prompts",
    "negative",
    "positive",
    "status",
    "available",
    "matching",
    "match",
    "weather",
    "hello",
)


def vocabulary() -> frozenset[str]:
    """Every English word the rules know: the typo fixer only corrects towards these."""
    words = set(_NUMBER_WORDS) | set(_EXTRA_VOCAB)
    for phrases in _ALL_EN:
        for phrase in phrases:
            words.update(w for w in re.split(r"[\s+\-_']+", phrase) if w.isalpha())
    return frozenset(words)
