"""Language identification and LanguageCheck, on hand-written multilingual texts."""

from __future__ import annotations

import numpy as np
import pytest

from synthembed.gen.languages import LANGUAGE_CODES
from synthembed.quality.config import LanguageConfig
from synthembed.quality.langid import COLUMN, COLUMNS, LanguageIdentifier
from synthembed.quality.langid_lexicon import MARKER_GROUPS, MarkerGroup
from synthembed.quality.language import LanguageCheck
from synthembed.quality.text import script_of
from tests.quality.builders import TEXTS, example, to_batch


@pytest.mark.parametrize("code", ["en", "de", "fr", "es", "ru", "zh", "ja", "ar", "hi", "ko", "sr"])
def test_identifies_paragraphs(identifier: LanguageIdentifier, code: str) -> None:
    ((found, p),) = identifier.identify([TEXTS[code]])
    assert found == code
    assert p > 0.5


def test_serbian_latin_is_serbian_or_its_close_group(identifier: LanguageIdentifier) -> None:
    ((found, _),) = identifier.identify([TEXTS["sr-latn"]])
    assert found in ("sr", "hr", "bs")


def test_covers_at_least_90_of_the_93(identifier: LanguageIdentifier) -> None:
    assert len(identifier.covered) >= 90
    assert set(identifier.covered) <= set(LANGUAGE_CODES)


def test_probabilities_sum_to_one_with_other_column(identifier: LanguageIdentifier) -> None:
    probs, _ = identifier.probabilities([TEXTS["en"], "", "12345 !!!", "Bonjour à tous"])
    assert probs.shape == (4, len(COLUMNS))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)


def test_parity_with_py3langid(identifier: LanguageIdentifier) -> None:
    """Our batch kernel scores as py3langid's own code does."""
    py3langid = pytest.importorskip("py3langid.langid")
    ref = py3langid.LanguageIdentifier.from_model_file(py3langid.MODEL_FILE, norm_probs=True)
    texts = [TEXTS[c] for c in ("en", "de", "ru", "zh", "ar")] + ["Hyvää huomenta kaikille", "Dobar dan"]
    ours = identifier._nb.class_probabilities(identifier.prepare(texts))
    for text, row in zip(texts, ours, strict=True):
        expected = ref._decide(text)
        # py3langid folds script aliases (srl -> sr) into the first column; compare the argmax class.
        assert ref.nb_classes[int(expected.argmax())] == identifier._nb.classes[int(row.argmax())]
        assert float(row.max()) == pytest.approx(float(expected.max()), abs=2e-3)


def test_script_rules_pick_japanese_and_chinese(identifier: LanguageIdentifier) -> None:
    kanji_only = "東京都庁舎新宿区西新宿二丁目八番一号所在地"  # no kana: cannot be Japanese prose
    ((found, _),) = identifier.identify([kanji_only])
    assert found == "zh"
    ((found, _),) = identifier.identify([TEXTS["ja"]])
    assert found == "ja"


def test_serbian_letters_rule_out_macedonian(identifier: LanguageIdentifier) -> None:
    probs, _ = identifier.probabilities(["Ђорђе је рекао да ће доћи сутра ујутру."])
    assert probs[0, COLUMNS.index("mk")] == 0.0


def test_second_model_covers_yiddish(identifier: LanguageIdentifier) -> None:
    yiddish = "דער שטאָטראַט האָט באַשלאָסן צו פֿאַרריכטן די אַלטע בריק איבער דעם טייך אין פֿרילינג"
    ((found, _),) = identifier.identify([yiddish])
    assert found == "yi"
    assert script_of(yiddish) == "Hebrew"


@pytest.mark.parametrize(
    ("code", "text"),
    [
        ("hr", "Tijekom prošlog tjedna tisuću ljudi posjetilo je kazalište u središtu grada."),
        ("bs", "Tokom prošle sedmice hiljadu ljudi posjetilo je pozorište u centru grada."),
        ("sr", "Tokom prošle nedelje hiljadu ljudi posetilo je pozorište u centru grada."),
        (
            "ms",
            "Kerajaan telah mengumumkan bahawa sekolah akan ditutup kerana banjir, iaitu selama seminggu.",
        ),
        ("id", "Pemerintah mengumumkan bahwa sekolah akan ditutup karena banjir, yaitu selama seminggu."),
        ("mr", "मी उद्या शाळेत जाणार आहे आणि तिथे अभ्यास करणार आहे."),
        ("hi", "मैं कल स्कूल जाऊँगा और वहाँ पढ़ाई करूँगा।"),
        ("uk", "Ми їдемо до Києва наступного тижня."),
        ("no", "Jeg vet ikke hva hun mener med det."),
        ("da", "Jeg ved ikke hvad hun mener med det."),
        ("af", "Ek weet nie wat sy daarmee bedoel nie."),
        ("nl", "Ik weet niet wat ze daarmee bedoelt."),
        ("gl", "Non sei que quere dicir con iso, pero xa o veremos."),
        ("pt", "Não sei o que ela quer dizer com isso, mas já vamos ver."),
        ("sk", "Neviem, čo tým chce povedať, ale uvidíme."),
    ],
)
def test_close_languages_with_their_marker_words(
    identifier: LanguageIdentifier, code: str, text: str
) -> None:
    ((found, _),) = identifier.identify([text])
    assert found == code


def test_marker_words_decide_ekavian_serbian() -> None:
    """Without its markers the first model calls this ekavian (Serbian) sentence Bosnian."""
    text = "Tokom prošle nedelje hiljadu ljudi posetilo je pozorište u centru grada."
    plain = LanguageIdentifier(use_second_model=False, marker_weight=1.0)
    marked = LanguageIdentifier(use_second_model=False, marker_weight=2.0)
    ((before, _),) = plain.identify([text])
    ((after, _),) = marked.identify([text])
    assert (before, after) == ("bs", "sr")


def test_markers_move_probability_within_their_group_only() -> None:
    texts = ["Tokom prošle sedmice hiljadu ljudi posjetilo je pozorište.", TEXTS["en"], TEXTS["ru"]]
    plain, _ = LanguageIdentifier(use_second_model=False, marker_weight=1.0).probabilities(texts)
    marked, _ = LanguageIdentifier(use_second_model=False, marker_weight=5.0).probabilities(texts)
    group = [COLUMN[c] for c in ("bs", "hr", "sr")]
    others = [i for i in range(len(COLUMNS)) if i not in group]
    np.testing.assert_allclose(marked[0, group].sum(), plain[0, group].sum(), atol=1e-5)
    np.testing.assert_allclose(marked[0, others], plain[0, others], atol=1e-5)
    assert marked[0, COLUMN["hr"]] < plain[0, COLUMN["hr"]]
    np.testing.assert_allclose(marked[1], plain[1], atol=1e-5)  # English: no group, untouched


def test_marker_group_counts_words_prefixes_suffixes_phrases_and_letters() -> None:
    group = MarkerGroup(
        ("id", "ms"),
        "Latin",
        {
            ("id",): "karena bahwa rumah_sakit",
            ("ms",): "kerana bahawa *isma universiti*",
            ("id", "ms"): "dan",
        },
        {("ms",): "q"},
    )
    found = group.counts(
        ["Dia tahu BAHAWA kapitalisma dan universitinya, Qatar", "Ke rumah  sakit karena", ""]
    )
    np.testing.assert_array_equal(found, [[1, 5], [2, 0], [0, 0]])


def test_marker_words_are_whole_words_in_devanagari() -> None:
    """Vowel signs are combining marks: है must not match inside हैं."""
    group = MarkerGroup(("hi", "mr"), "Devanagari", {("hi",): "है", ("mr",): "आहे"})
    np.testing.assert_array_equal(group.counts(["ये हैं", "हे घर आहे", "यह है"]), [[0, 0], [0, 1], [1, 0]])


def test_marker_group_rejects_languages_outside_it() -> None:
    with pytest.raises(ValueError, match="not in the group"):
        MarkerGroup(("id", "ms"), "Latin", {("jv",): "ora"})


def test_marker_groups_use_known_codes_and_scripts() -> None:
    for group in MARKER_GROUPS:
        assert set(group.languages) <= set(LANGUAGE_CODES)
        assert group.script in {"Latin", "Cyrillic", "Devanagari"}


def decide(rows: list[dict], config: LanguageConfig | None = None) -> list[str | None]:
    check = LanguageCheck(config or LanguageConfig())
    return [d.reason if d else None for d in check.decide(to_batch(rows))]


def test_language_check_passes_matching_fields() -> None:
    rows = [
        example(id="en"),
        example(
            id="de",
            language="de",
            query="Wie lange dauert die Reparatur der Brücke?",
            positive=TEXTS["de"],
            negative=TEXTS["de"][:120],
        ),
        example(
            id="zh",
            language="zh",
            query="旧桥的维修工程需要多长时间？",
            positive=TEXTS["zh"],
            negative=TEXTS["zh"][:40],
        ),
        example(
            id="ru",
            language="ru",
            query="сколько продлится ремонт старого моста",
            positive=TEXTS["ru"],
            negative=TEXTS["ru"][:90],
        ),
        example(
            id="bitext",
            task_type="bitext",
            language="en-fr",
            query=TEXTS["en"][:110],
            positive=TEXTS["fr"][:120],
            negative=TEXTS["fr"][120:240],
        ),
    ]
    assert decide(rows) == [None] * len(rows)


def test_language_check_drops_wrong_language() -> None:
    rows = [
        example(
            id="fr-for-de",
            language="de",
            query="Wie lange dauert die Reparatur der Brücke?",
            positive=TEXTS["fr"],
        ),
        example(
            id="bitext-swapped",
            task_type="bitext",
            language="en-fr",
            query=TEXTS["fr"][:120],
            positive=TEXTS["fr"][:100],
            negative=TEXTS["fr"][100:200],
        ),
        example(id="es-for-en", positive=TEXTS["es"]),
    ]
    assert decide(rows) == ["wrong_language"] * 3


def test_language_check_script_rules() -> None:
    rows = [
        example(
            id="latin-for-ru", language="ru", query="skolko prodlitsya remont mosta", positive=TEXTS["ru"]
        ),
        example(
            id="chinese-for-ja",
            language="ja",
            query="旧桥的维修工程需要多长时间",
            positive=TEXTS["zh"],
            negative=TEXTS["ja"],
        ),
        example(
            id="japanese-for-zh",
            language="zh",
            query="旧桥的维修工程需要多长时间",
            positive=TEXTS["ja"],
            negative=TEXTS["zh"],
        ),
    ]
    assert decide(rows) == ["wrong_script"] * 3


def test_serbian_in_both_scripts_and_close_group() -> None:
    rows = [
        example(
            id="cyr",
            language="sr",
            query="колико ће трајати поправка моста",
            positive=TEXTS["sr"],
            negative=TEXTS["sr"][:100],
        ),
        example(
            id="lat",
            language="sr",
            query="koliko će trajati popravka mosta",
            positive=TEXTS["sr-latn"],
            negative=TEXTS["sr-latn"][:100],
        ),
        example(
            id="hr-asked",
            language="hr",
            query="koliko će trajati popravak mosta",
            positive=TEXTS["sr-latn"],
            negative=TEXTS["sr-latn"][:100],
        ),
    ]
    assert decide(rows) == [None, None, None]
    no_groups = LanguageConfig(close_groups=[], min_confidence=0.9)
    assert decide(rows[2:], no_groups) == ["wrong_language"]


def test_short_fields_are_not_judged() -> None:
    row = example(
        task_type="classification", language="de", query=TEXTS["de"], positive="Sport", negative="Politik"
    )
    assert decide([row]) == [None]


def test_describe_names_backends() -> None:
    described = LanguageCheck().describe()
    assert described["identifier"]["languages_covered"] >= 90
    assert "py3langid" in described["identifier"]["first_model"]
    assert "bs/hr/sr" in described["identifier"]["marker_groups"]
    assert described["identifier"]["blend"] == {"below": 0.5, "weight": 0.3}
