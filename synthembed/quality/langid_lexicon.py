"""Marker words and letters for the close languages that byte n-gram models confuse.

Each :class:`MarkerGroup` lists closely related languages and, for a set of them, words that the
standard written language of those and not of the others uses: Croatian ``tisuća``/``tjedan``/
``povijest`` against Bosnian and Serbian ``hiljada``/``sedmica``/``historija``/``istorija``;
Malaysian ``kerana``/``bahawa``/``iaitu`` against Indonesian ``karena``/``bahwa``/``yaitu``; Marathi
``आहे``/``आणि``/``नाही`` against Hindi ``है``/``और``/``नहीं``; Serbian ``је`` ("is") against
Macedonian and Bulgarian ``е``. Some groups also list letters only some of their alphabets have
(Czech ř, Slovak ľ, Azerbaijani ə, Ukrainian ї, Belarusian ў).

The lists were written from grammars, dictionaries and spelling rules of the standard languages,
not derived from the benchmark sentences. Three words were dropped after a first benchmark run
showed them to be wrong for the language in general, not for those sentences: Afrikaans also
writes "een" (one), names carry Dutch "de", and Indonesian slang also says "dah". Place names and
topics are left out on purpose: they say what a text is about, not what language it is in.

:class:`~synthembed.quality.langid.LanguageIdentifier` counts the markers of texts whose best
answer is in a group and moves probability between the group's languages only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

#: A word: a run of anything but white space, punctuation and symbols (so combining marks, which
#: Devanagari vowel signs are, stay inside their word). Apostrophes stay too (Afrikaans 'n).
_WORD = re.compile(r"[^\s!-&(-/:-@\[-`{-~\u00a0-\u00bf\u2010-\u205e\u3000-\u303f\u0964\u0965]+")
_CACHE_LIMIT = 200_000


@dataclass(frozen=True)
class MarkerGroup:
    """Closely related languages and the words (and letters) that tell them apart.

    Attributes:
        languages: the competing XLM-R codes.
        script: the script their texts are written in (the rules run on texts of that script).
        words: supported languages -> space-separated marker words; ``word*`` matches any word
            beginning with ``word``, ``*word`` any word ending with it, ``*word*`` any word
            containing it, and ``_`` joins the two words of a phrase. Matching ignores case.
        letters: supported languages -> letters that only their alphabets have (among the group);
            every occurrence counts.

    Raises:
        ValueError: a marker names a language outside the group.

    Example::

        group = MarkerGroup(("id", "ms"), "Latin", {("id",): "karena bahwa", ("ms",): "kerana bahawa"})
        group.counts(["Saya tahu bahawa dia datang kerana hujan."])  # [[0., 2.]]
    """

    languages: tuple[str, ...]
    script: str
    words: dict[tuple[str, ...], str]
    letters: dict[tuple[str, ...], str] = field(default_factory=dict)
    _index: _WordIndex = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for kind, table in (("words", self.words), ("letters", self.letters)):
            for langs in table:
                unknown = set(langs) - set(self.languages)
                if unknown:
                    raise ValueError(
                        f"{kind} marker languages {sorted(unknown)} are not in the group {self.languages}"
                    )
        object.__setattr__(self, "_index", _WordIndex(self.languages, self.words, self.letters))

    def counts(self, texts: Sequence[str]) -> np.ndarray:
        """Markers found per text and language: an ``(len(texts), len(languages))`` array.

        A marker of several languages counts for each of them.
        """
        return self._index.counts(texts)


class _WordIndex:
    """The markers of a group as hash lookups per word (exact, by prefix, by suffix)."""

    def __init__(
        self,
        languages: tuple[str, ...],
        words: dict[tuple[str, ...], str],
        letters: dict[tuple[str, ...], str],
    ) -> None:
        sets = list(words) + list(letters)
        self.support = np.array([[lang in langs for lang in languages] for langs in sets], dtype=np.float64)
        self.exact: dict[str, list[int]] = {}
        self.phrases: dict[tuple[str, str], list[int]] = {}
        self.prefixes: dict[int, dict[str, list[int]]] = {}
        self.suffixes: dict[int, dict[str, list[int]]] = {}
        self.inner: list[tuple[str, int]] = []
        for k, markers in enumerate(words.values()):
            for word in markers.lower().split():
                core = word.strip("*")
                if "_" in word:
                    first, second = core.split("_")
                    self.phrases.setdefault((first, second), []).append(k)
                elif word.startswith("*") and word.endswith("*"):
                    self.inner.append((core, k))
                elif word.endswith("*"):
                    self.prefixes.setdefault(len(core), {}).setdefault(core, []).append(k)
                elif word.startswith("*"):
                    self.suffixes.setdefault(len(core), {}).setdefault(core, []).append(k)
                else:
                    self.exact.setdefault(core, []).append(k)
        self.letters = [(len(words) + k, chars.lower()) for k, chars in enumerate(letters.values())]
        self.cache: dict[str, tuple[int, ...]] = {}

    def lookup(self, token: str) -> tuple[int, ...]:
        """The marker sets a word belongs to."""
        hit = self.cache.get(token)
        if hit is None:
            found: list[int] = []
            for word in {token, token.strip("'")}:
                found += self.exact.get(word, ())
                for n, table in self.prefixes.items():
                    if len(word) >= n:
                        found += table.get(word[:n], ())
                for n, table in self.suffixes.items():
                    if len(word) >= n:
                        found += table.get(word[-n:], ())
                found += [k for part, k in self.inner if part in word]
            hit = tuple(found)
            if len(self.cache) >= _CACHE_LIMIT:
                self.cache.clear()
            self.cache[token] = hit
        return hit

    def counts(self, texts: Sequence[str]) -> np.ndarray:
        n_sets = len(self.support)
        hits: list[int] = []  # row * n_sets + marker set, once per marker found
        cache, lookup = self.cache, self.lookup
        for row, text in enumerate(texts):
            lowered = text.lower().replace("\u2019", "'").replace("\u2018", "'").replace("\u00b4", "'")
            tokens = _WORD.findall(lowered)
            base = row * n_sets
            for token in tokens:
                sets = cache.get(token)
                if sets is None:
                    sets = lookup(token)
                for k in sets:
                    hits.append(base + k)
            if self.phrases:
                for pair in pairwise(tokens):
                    for k in self.phrases.get(pair, ()):
                        hits.append(base + k)
            for k, chars in self.letters:
                for c in chars:
                    hits.extend([base + k] * lowered.count(c))
        found = np.bincount(np.asarray(hits, dtype=np.int64), minlength=len(texts) * n_sets)
        return found.reshape(len(texts), n_sets).astype(np.float64) @ self.support


# Croatian against Bosnian and Serbian (Latin script). Bosnian shares most of its vocabulary
# differences from Croatian with Serbian, and its ijekavian forms with Croatian; Serbian here is
# ekavian (the standard of Serbia).
_HR = (
    # who / thousand / week / history / firm / bread / train / music / theatre / science / university
    "tko netko nitko svatko itko tkogod tisuća tisuće tisuću tisućama tisućljeć* tjedan tjedna tjednu "
    "tjedno tjedana tjedni povijest* povijesn* tvrtk* kruh vlak vlaka vlakom vlakovi glazb* kazališ* "
    "znanost* znanstven* sveučiliš* obitelj* zrakoplov* izvješć* priopć* veleposlan* "
    # Europe / condition / point, exact / during / million / percent / supply / director / pension
    "europ* uvjet* točk* točn* tijekom tijek milijun* postotak postotka postotku postotaka opskrb* "
    "ravnatelj* redatelj* mirovin* umirovljen* računal* "
    # months (genitive forms are the frequent ones)
    "siječanj siječnja veljača veljače ožujak ožujka travanj travnja svibanj svibnja lipanj lipnja "
    "srpanj srpnja kolovoza rujan rujna listopad listopada studenoga prosinac prosinca "
    # system / gas / association / use / extraordinary / notice / economy / press / quality
    "sustav* plin plina plinom udrug* uporab* izvanredn* obavijest* gospodarst* gospodarsk* tiskovn* "
    "kvalitete inozem* suradn* sudjelov* sudionik* sudionic* vjerojatno juha juhe kava kave "
    "glede svezi nazočn* tvornic* razina razine razini kemij* kemijsk*"
)
_BS_SR = (
    "ko šta hiljad* sedmic* hleb hljeb voz voza vozom vozovi muzik* pozorišt* nauka nauke naučn* "
    "univerzitet* porodic* fudbal* avion avioni aviona izvještaj* izveštaj* evrop* uslov* tačk* tačn* "
    "tokom milion* procenat procenata procentu snabdijev* snabdjev* snabdev* režiser* reditelj* "
    "penzij* penzioner* računar* "
    "januar januara februar februara mart juni juna juli jula avgust avgusta septembar "
    "septembra oktobar oktobra novembar novembra decembar decembra "
    "sistem sistema sistemu sistemom sistemi gas gasa vanredn* štamp* kvalitet "
    "inostran* saradn* učestvova* učestvuj* učesnik* učesnic* kafa kafe fabrik* nivo nivoa nivou "
    "hemij* hemijsk* saobraćaj* vazduh* ostrv* sprat desio desila desilo desili desiti obezbijed* "
    "obezbjeđ* obezbed* obezbeđ* da_li"
)
#: Verbs from -ieren: Croatian says -irati, Serbian -ovati / -isati, Bosnian either.
_IRATI = (
    "organizira* definira* reagira* kontrolira* realizira* regulira* informira* financira* "
    "formulira* kritizira*"
)
_OVATI = (
    "organizova* organizuj* definisa* reagova* reaguj* kontrolisa* realizova* realizuj* regulisa* "
    "informisa* finansira* formulisa* kritikova*"
)
_BS = (
    "historij* historijsk* lahko lahak mehko kahv* sahat* "
    # Bosnian and Croatian, not Serbian
    "općin* opći opće općeg općem općenit* uopće također "
    # ijekavian forms of frequent words
    "rijeka rijeke rijeci riječ riječi vrijeme dijete djeca djece djeci djetet* lijep* "
    "mlijek* gdje uvijek dio djelo djela djelu djelima djelovanj* pjesm* pjesnik* htio htjela "
    "cijel* mjest* vijest* bijel* prije poslije djevojk* zvijezd* ljeto ljeta nedjelj* srijed* "
    "tijel* vjer* svijet* vijek* stoljeć* predsjednik* mjesec* sjever* vidjeti vidjeli vidjela "
    "primjer* smjer* mjer* promjen* mijenj* zamjen* uspjeh* uspješn* sjedišt* sjeća*"
)
_SR = (
    "istorij* istorijsk* opštin* opšti opšte opšteg opštem uopšte takođe "
    "reka reke reč reči vreme dete deca dece deci deteta lep lepa lepo lepi lepe mleko "
    "gde uvek deo delo delu pesm* pesnik* hteo htela ceo cela celo celi celu mesto mesta mestu "
    "vest vesti beli bela belo posle devojk* zvezd* leto nedelj* sreda srede telo tela vera veru "
    "vek veka predsednik* mesec* sever* videti videli videla primer* smer* mera mere promen* "
    "menja* zamen* uspeh* uspešn* sedišt* seća*"
)

#: Malaysian (standard Malay of Malaysia) against Indonesian.
_MS = (
    "kerana bahawa iaitu sahaja wang kenderaan percuma mahu selepas pelbagai bilik polis teksi "
    "syarikat pejabat manakala memandangkan kakitangan telefon basikal berbanding sebarang "
    "cuba jawatan peratus minit lapan bahagian sekiranya antarabangsa setiausaha "
    "pengarah filem muzik projek matematik hospital kedai kilang bekalan menerusi senarai "
    "ahli_ahli digalakkan perkhidmatan perniagaan "
    "universiti kualiti aktiviti komuniti fasiliti identiti televisyen stesen "
    "mac jun julai ogos disember je kat camne"
)
_ID = (
    "karena bahwa yaitu uang kendaraan gratis mau setelah sesudah berbagai kamar taksi "
    "perusahaan kantor karyawan dokter telepon sepeda persen menit delapan bagian "
    "internasional sekretaris manajer sutradara film musik proyek matematika rumah_sakit toko pabrik "
    "departemen bisnis fasilitas "
    "universitas kualitas aktivitas komunitas identitas prioritas televisi stasiun "
    "maret juni juli agustus desember "
    "nggak enggak gak banget aja udah kalo gimana kayak emang pengen doang sih dong kok deh nih lho "
    "gue gw bisa"
)

#: Marathi and Nepali against Hindi (Devanagari). Sanskrit has no list: its markers would be
#: inflections, which Hindi quotes from it.
_MR = (
    "आहे आहेत आणि नाही नाहीत मध्ये झाले झाला झाली केले केला केली आपण काय नको होय आम्ही तुम्ही माझा "
    "माझी माझे पण असे असा असून इथे तिथे त्यांनी त्याने तिने आहोत करण्यासाठी म्हणून म्हणजे"
)
_HI = "है हैं था थी थे में और नहीं यह वह लिए ने को से हुआ हुई हुए गया गई गए रहा रही रहे किया किए कहा"
_NE = "छ छन् हुन्छ थियो थिए पनि लागि गर्न गरेको भएको हुने भने गरे भए छैन"

#: Serbian against Macedonian and Bulgarian (Cyrillic): Serbian "је" (is) and "у" (in) where the
#: others write "е" and "во" / "в".
_SR_CYRL = "је су није нису који која које којих којим као ће ћу смо у"
_MK = "во кој кое кои ќе сум со ги"
_MK_BG = "е сме беше"
_BG = "в във който което която които съм ще от със като към"

#: Afrikaans against Dutch: Afrikaans "nie", "die", "'n", "hulle", where Dutch writes "niet",
#: "de"/"het", "een", "zij"; Dutch "ij" where Afrikaans writes "y".
_AF = (
    "nie baie hulle vir sal ek jy julle 'n gesê hê gewees geword nou kry hierdie daardie almal saam "
    "mense kinders sy"
)
_NL = (
    "niet zijn zal zullen naar wordt worden werd heeft hebben deze wij jij zij ze uw bij mij zich ik "
    "je mensen kinderen *ij*"
)

#: Galician against Portuguese.
_GL = (
    "non unha unhas xa iso polo pola polos polas moi tamén coa co cos coas con están son teñen ten "
    "máis aínda noso nosa nosos nosas sen cando despois algún ningún mellor *ción *cións xunto xente "
    "xeito facer dende"
)
_PT = (
    "não uma umas já isso pelo pela pelos pelas muito muita também com são têm tem mais ainda nosso "
    "nossa sem quando depois melhor fazer gente jeito junto"
)

#: Czech against Slovak.
_CS = (
    "se jsem jsme jsou jste jako nebo pro který která které kterého kteří byl byla bylo byli také "
    "není co proto již protože tedy mezi když jenž velmi"
)
_SK = (
    "sa som sme sú ste ako alebo pre ktorý ktorá ktoré ktorého ktorí bol bola bolo boli tiež nie čo "
    "preto pretože teda medzi keď veľmi aj"
)

#: Danish, Norwegian (Bokmål and Nynorsk) and Swedish.
_DA = "af hvad noget nogle mellem ud op gennem sidste *hed *heden"
_NO = "hva nå meg deg seg etter noe noen ble mellom opp gjennom siste ikkje eg ein kva ho frå berre"
_DA_SV = "mig dig sig efter nu blev"
_DA_NO = "til fra når ikke også jeg hvor hvordan"
_NO_SV = "av ut *het *heten"
_SV = "och att inte är jag för till också när från vad hur mellan genom sista något några upp"

#: Azerbaijani against Turkish: Azerbaijani writes ə, q and x, which the Turkish alphabet lacks.
_AZ = "və ilə deyil kimi üçün"
_TR = "ve ile değil gibi için"

MARKER_GROUPS: tuple[MarkerGroup, ...] = (
    MarkerGroup(
        ("bs", "hr", "sr"),
        "Latin",
        {
            ("hr",): _HR,
            ("bs", "sr"): _BS_SR + " " + _OVATI,
            ("bs", "hr"): _BS + " " + _IRATI,
            ("sr",): _SR,
        },
    ),
    MarkerGroup(("id", "ms"), "Latin", {("ms",): _MS, ("id",): _ID}),
    MarkerGroup(
        ("hi", "mr", "ne", "sa"),
        "Devanagari",
        {("mr",): _MR, ("hi",): _HI, ("ne",): _NE},
        {("mr",): "ळऱ"},
    ),
    MarkerGroup(
        ("sr", "mk", "bg"),
        "Cyrillic",
        {("sr",): _SR_CYRL, ("mk",): _MK, ("mk", "bg"): _MK_BG, ("bg",): _BG},
    ),
    # The letters each Cyrillic alphabet has or lacks: ы э only in Russian and Belarusian, і in
    # Ukrainian and Belarusian, ї є ґ only in Ukrainian, ў only in Belarusian (which lacks и and щ),
    # ъ as a vowel only in Bulgarian, й and щ not in Serbian or Macedonian.
    MarkerGroup(
        ("ru", "uk", "be", "bg", "mk", "sr"),
        "Cyrillic",
        {},
        {
            ("ru", "be"): "ыэё",
            ("uk", "be"): "і",
            ("uk",): "їєґ",
            ("be",): "ў",
            ("bg",): "ъ",
            ("ru", "uk", "bg"): "щ",
            ("ru", "uk", "be", "bg"): "й",
            ("ru", "uk", "bg", "mk", "sr"): "и",
        },
    ),
    MarkerGroup(("af", "nl"), "Latin", {("af",): _AF, ("nl",): _NL}, {("af",): "ê"}),
    MarkerGroup(("gl", "pt"), "Latin", {("gl",): _GL, ("pt",): _PT}, {("gl",): "ñ", ("pt",): "ãõç"}),
    MarkerGroup(("cs", "sk"), "Latin", {("cs",): _CS, ("sk",): _SK}, {("cs",): "řěů", ("sk",): "äôľĺŕ"}),
    MarkerGroup(
        ("da", "no", "sv"),
        "Latin",
        {
            ("da",): _DA,
            ("no",): _NO,
            ("sv",): _SV,
            ("da", "sv"): _DA_SV,
            ("da", "no"): _DA_NO,
            ("no", "sv"): _NO_SV,
        },
        {("sv",): "äö", ("da", "no"): "æø"},
    ),
    MarkerGroup(("az", "tr"), "Latin", {("az",): _AZ, ("tr",): _TR}, {("az",): "əqx"}),
)
