"""Small release folders for the training tests (and bench/validate_cpu.py), written with pyarrow.

The text is deterministic and has structure a model can learn but a pretrained one does not know:
every topic has a made-up code name ("vorlani" for volcanoes), queries name topics by their code and
documents describe them in plain words, so matching needs the code -> topic mapping that only the
train split teaches. Bitext "translates" into a word cipher. The test split holds out whole task
definitions, as real releases do; topics, codes and the cipher are shared by both splits.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from synthembed.hub.release import RELEASE_COLUMNS

# the release layout the builder writes, from the code that writes real releases
COLUMNS = RELEASE_COLUMNS

TOPICS = {
    "volcanoes": ("lava", "magma", "eruption", "crater"),
    "glaciers": ("ice", "meltwater", "moraine", "crevasse"),
    "honeybees": ("hive", "nectar", "pollen", "queen"),
    "lighthouses": ("lamp", "coast", "keeper", "beacon"),
    "submarines": ("hull", "periscope", "sonar", "ballast"),
    "orchids": ("petal", "greenhouse", "bloom", "stem"),
    "violins": ("bow", "strings", "bridge", "rosin"),
    "comets": ("tail", "orbit", "nucleus", "coma"),
    "bakeries": ("dough", "oven", "flour", "crust"),
    "railways": ("track", "locomotive", "station", "signal"),
    "coral reefs": ("polyp", "lagoon", "bleaching", "fish"),
    "windmills": ("sail", "millstone", "grain", "tower"),
    "deserts": ("dune", "cactus", "oasis", "sand"),
    "tornadoes": ("funnel", "vortex", "storm", "debris"),
    "libraries": ("shelf", "catalogue", "librarian", "archive"),
    "vineyards": ("grape", "harvest", "cellar", "vine"),
    "penguins": ("colony", "flipper", "krill", "egg"),
    "castles": ("moat", "rampart", "keep", "drawbridge"),
    "satellites": ("antenna", "solar panel", "telemetry", "launch"),
    "mushrooms": ("spore", "mycelium", "cap", "forest floor"),
    "earthquakes": ("fault", "tremor", "seismograph", "aftershock"),
    "canals": ("lock", "barge", "towpath", "sluice"),
    "typewriters": ("keys", "ribbon", "carriage", "platen"),
    "pyramids": ("tomb", "limestone", "pharaoh", "chamber"),
    "rainforests": ("canopy", "vines", "humidity", "jaguar"),
    "telescopes": ("lens", "mirror", "eyepiece", "mount"),
    "cheese": ("curd", "rind", "aging", "whey"),
    "bridges": ("span", "girder", "pier", "cable"),
    "hurricanes": ("eye", "surge", "gust", "landfall"),
    "beekeeping": ("smoker", "frame", "swarm", "wax"),
    "pottery": ("clay", "kiln", "glaze", "wheel"),
    "rivers": ("delta", "current", "bank", "estuary"),
    "chess": ("pawn", "checkmate", "opening", "gambit"),
    "kites": ("string", "wind", "frame", "tail"),
    "whales": ("blowhole", "pod", "baleen", "migration"),
    "clocks": ("pendulum", "gear", "dial", "spring"),
    "tea": ("leaf", "infusion", "kettle", "plantation"),
    "bicycles": ("pedal", "chain", "saddle", "spoke"),
    "owls": ("feather", "talon", "night", "prey"),
    "caves": ("stalactite", "cavern", "bat", "limestone"),
}
ASPECTS = {
    "history": "was first described long ago and changed a great deal over the centuries",
    "dangers": "can cause harm, and people take care to stay safe around it",
    "uses": "is useful to people in many practical ways",
    "costs": "needs money and effort to maintain each year",
    "places": "is found in many regions across the world",
    "parts": "is made of several parts that work together",
}
GENRES = (
    "trivia",
    "school",
    "encyclopedia",
    "travel",
    "museum",
    "news",
    "hobby",
    "science",
    "quiz",
    "archive",
    "field guide",
    "podcast",
    "exam",
    "forum",
    "magazine",
    "lecture",
)
_SYLLABLES = (
    "vor",
    "la",
    "ni",
    "zen",
    "ta",
    "ra",
    "mo",
    "bu",
    "li",
    "ke",
    "sha",
    "do",
    "pri",
    "qua",
    "fen",
    "ul",
)
_CIPHER_LETTERS = "qwertyuiopasdfghjklzxcvbnm"


def code_names(seed: int = 7) -> dict[str, str]:
    """topic -> made-up code name (three syllables), the same for every split."""
    rng = random.Random(seed)
    codes: dict[str, str] = {}
    for topic in TOPICS:
        while True:
            code = "".join(rng.choice(_SYLLABLES) for _ in range(3))
            if code not in codes.values():
                codes[topic] = code
                break
    return codes


def cipher(text: str, seed: int = 11) -> str:
    """A letter substitution: the 'other language' of the bitext examples."""
    letters = list(_CIPHER_LETTERS)
    random.Random(seed).shuffle(letters)
    table = str.maketrans(_CIPHER_LETTERS, "".join(letters))
    return text.lower().translate(table)


def _doc(topic: str, aspect: str, words: tuple[str, ...], rng: random.Random) -> str:
    a, b, c = rng.sample(words, 3)
    return f"On the {aspect} of {topic}: {topic} {ASPECTS[aspect]}. Think of the {a}, the {b} and the {c}."


def synthetic_rows(
    n: int, *, seed: int = 0, task_types: tuple[str, ...] | None = None, topics: int | None = None
) -> list[dict[str, str]]:
    """``n`` examples spread over the task types, each a dict with the release columns.

    Instructions are ``(task type, genre)`` combinations, so a release has many task definitions
    to hold out. short_short and long_long rows have no negative, as in real releases. ``topics``
    limits the topics drawn from (fewer topics: each code is seen more often, learnt sooner).
    """
    rng = random.Random(seed)
    codes = code_names()
    topics = list(TOPICS)[:topics]
    kinds = task_types or ("retrieval", "classification", "short_short", "long_long", "sts", "bitext")
    rows = []
    for k in range(n):
        task_type = kinds[k % len(kinds)]
        genre = rng.choice(GENRES)
        topic, other = rng.sample(topics, 2)
        aspect = rng.choice(list(ASPECTS))
        words, other_words = TOPICS[topic], TOPICS[other]
        if task_type == "retrieval":
            instruction = (
                f"Given a {genre} question that names a subject by its code, retrieve the passage about it."
            )
            query = f"{aspect} of {codes[topic]}"
            positive, negative = _doc(topic, aspect, words, rng), _doc(other, aspect, other_words, rng)
        elif task_type == "classification":
            instruction = f"Classify a {genre} passage by the code name of the subject it describes."
            query, positive, negative = _doc(topic, aspect, words, rng), codes[topic], codes[other]
        elif task_type == "short_short":
            instruction = (
                f"Given a code name from a {genre} index, find the title of the entry it stands for."
            )
            query, positive, negative = codes[topic], f"All about {topic}", ""
        elif task_type == "long_long":
            instruction = (
                f"Given a {genre} report that uses code names, find the report about the same subject."
            )
            query = " ".join(_doc(codes[topic], a, words, rng) for a in rng.sample(list(ASPECTS), 3))
            positive = " ".join(_doc(topic, a, words, rng) for a in rng.sample(list(ASPECTS), 3))
            negative = ""
        elif task_type == "sts":
            instruction = "Find a text that carries the same meaning as the given text."
            query = f"{codes[topic]} {ASPECTS[aspect]}."
            positive, negative = (
                f"{topic.capitalize()} {ASPECTS[aspect]}.",
                f"{other.capitalize()} {ASPECTS[aspect]}.",
            )
        else:
            instruction = "Given a text, find its translation in another language."
            sentence = _doc(topic, aspect, words, rng)
            query, positive = sentence, cipher(sentence)
            negative = cipher(_doc(other, aspect, other_words, rng))
        # sts and bitext share one fixed instruction each: the release splits them by example
        group = f"{task_type}-{k}" if task_type in ("sts", "bitext") else instruction
        rows.append(
            {
                "id": f"ex{k:06d}",
                "task_type": task_type,
                "instruction": instruction,
                "language": "en-xx" if task_type == "bitext" else "en",
                "query": query,
                "positive": positive,
                "negative": negative,
                "template_id": f"{task_type}-v1",
                "model": "synthetic",
                "_group": group,
            }
        )
    return rows


RECIPE = """\
name: {name}
version: {version}
seed: 0
provider: {{kind: local}}
examples: {{retrieval: 1}}
"""


def write_release(
    folder: str | Path,
    rows: list[dict[str, str]],
    *,
    name: str = "synthetic",
    version: str = "1.0.0",
    test_fraction: float = 0.2,
    recipe_extra: str = "",
) -> Path:
    """Write ``rows`` as a release folder: manifest.json, recipe.yaml, data/<type>/{train,test}.parquet.

    Whole instructions go to test (sts and bitext rows one by one, as the release code does),
    chosen by a hash-free seeded draw so the split is the same on every run.
    """
    folder = Path(folder)
    groups = sorted({r["_group"] for r in rows})
    rng = random.Random(1)
    test_groups = {g for g in groups if rng.random() < test_fraction}
    configs: dict[str, dict[str, int]] = {}
    by_type: dict[str, dict[str, list[dict[str, str]]]] = {}
    for row in rows:
        split = "test" if row["_group"] in test_groups else "train"
        by_type.setdefault(row["task_type"], {"train": [], "test": []})[split].append(row)
    schema = pa.schema([(c, pa.string()) for c in COLUMNS])
    for task_type, splits in by_type.items():
        (folder / "data" / task_type).mkdir(parents=True, exist_ok=True)
        for split, part in splits.items():
            table = pa.Table.from_pylist([{c: r[c] for c in COLUMNS} for r in part], schema=schema)
            pq.write_table(table, folder / "data" / task_type / f"{split}.parquet")
        configs[task_type] = {split: len(part) for split, part in splits.items()}
    (folder / "recipe.yaml").write_text(
        RECIPE.format(name=name, version=version) + recipe_extra, encoding="utf-8"
    )
    manifest = {"name": name, "version": version, "configs": configs}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return folder
