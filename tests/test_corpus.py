"""The extractor against saved real blog pages (issue 4, "Real-world check").

The corpus lives outside the project, beside the repository (``../shared/corpus/real``,
or ``$PINGCRAWL_CORPUS``); its MANIFEST.md says what a correct extractor finds in each
page. The expected values below are taken from that manifest.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from crawler.extract.page import Extraction, extract
from crawler.urls import normalize_url

REPO = Path(__file__).resolve().parents[1]


def corpus_dir() -> Path:
    override = os.environ.get("PINGCRAWL_CORPUS")
    return Path(override) if override else REPO.parent / "shared" / "corpus" / "real"


CORPUS = corpus_dir()
pytestmark = pytest.mark.skipif(
    not CORPUS.is_dir(), reason=f"real-blog corpus not found at {CORPUS} (set PINGCRAWL_CORPUS)"
)


@dataclass
class Expected:
    url: str  # the address the page was fetched from
    title: str
    canonical: str | None
    comments: int
    pings: int
    sources: tuple[str, ...] = ()  # ping source URLs (all of them, or a sample if partial)
    citations: tuple[str, ...] = ()  # a sample of outbound links in the post body
    is_post: bool = True
    all_sources: bool = True  # `sources` is the complete list, in order
    authors: tuple[str, ...] = ()  # first comment authors, in order (name prefixes)


WAYBACK = "https://web.archive.org/web/20130307194448/"

EXPECTED: dict[str, Expected] = {
    "wpcom-twentyten-de-28pingbacks.html": Expected(
        url="https://mywakenews.wordpress.com/2016/07/09/nwo-psyop-unitedwestrike-radio-marathon/",
        title="NWO – PSYOP UNITEDWESTRIKE Radio-Marathon",
        canonical="https://mywakenews.wordpress.com/2016/07/09/nwo-psyop-unitedwestrike-radio-marathon/",
        comments=1,
        pings=28,
        sources=(
            "https://mywakenews.wordpress.com/2016/07/12/verruckte-psychopathen-re-gier-en-die-welt-wake-news-radiotv/",
            "https://vugwakenews.wordpress.com/2016/07/13/losegeld-erpressung-und-drangsalierung-durch-die-augsburger-justiz-puppenkiste/",
            "https://mywakenews.wordpress.com/2016/07/14/angst-angebote-seerecht-was-eine-freude/",
            "https://mywakenews.wordpress.com/2016/07/14/verlogene-justiz-wake-news-radiotv/",
            "https://terraherz.wordpress.com/2016/07/16/nwo-psyop-unitedwestrike-radio-marathon-9-7-16/",
            "https://terraherz.wordpress.com/2016/07/16/verrueckte-psychopathen-re-gier-en-die-welt-wake-news-radiotv-12-7-16/",
            "https://terraherz.wordpress.com/2016/07/17/verlogene-justiz-wake-news-radiotv-14-7-16/",
            "https://mywakenews.wordpress.com/2016/07/19/wo-lebt-der-mensch-noch-frei-auf-der-erde-wake-news-radiotv/",
            "http://mussmanwissen.info/nwo-psyop-guest-michael-unitedwestrike-radio-marathon-20160709/",
            "https://mywakenews.wordpress.com/2016/07/21/auf-dem-schiff-talk-von-und-mit-menschen-mit-maria-wake-news-radiotv/",
            "https://terraherz.wordpress.com/2016/07/21/die-person-vor-gericht-besuch-auf-dem-schiff-des-strafgericht-bs-20-7-16/",
            "https://mywakenews.wordpress.com/2016/07/21/der-ganz-normale-wahnsinn-in-dieser-welt-wake-news-radiotv/",
            "https://vielspassimsystem.wordpress.com/2016/07/21/die-person-vor-gericht-besuch-auf-dem-schiff-des-strafgericht-bs-20160720/",
            "https://terraherz.wordpress.com/2016/07/22/wo-lebt-der-mensch-noch-frei-auf-der-erde-wake-news-radiotv/",
            "https://mywakenews.wordpress.com/2016/07/24/gutjahr-der-falsche-flagge-journalist-von-munchen-und-nizza/",
            "https://terraherz.wordpress.com/2016/07/25/der-ganz-normale-wahnsinn-in-dieser-welt-wake-news-radiotv-21-7-16/",
            "https://mywakenews.wordpress.com/2016/07/26/imperialismus-der-eliten-als-bekampfung-des-freien-selbstbestimmten-menschen-ich/",
            "https://mywakenews.wordpress.com/2016/07/26/eilmeldung-firma-bundespolizei-mitarbeiter-runge-nimmt-wake-news-journalisten-an-der-grenze-fest/",
            "https://mywakenews.wordpress.com/2016/07/26/absolutes-chaos-im-anmarsch-wake-news-radiotv/",
            "https://vugwakenews.wordpress.com/2016/07/26/eilmeldung-firma-bundespolizei-mitarbeiter-runge-nimmt-wake-news-journalisten-an-der-grenze-fest/",
            "https://mywakenews.wordpress.com/2016/07/27/schlag-auf-schlag-talk-von-und-mit-menschen-mit-maria-wake-news-radiotv/",
            "https://mywakenews.wordpress.com/2016/07/28/das-bankrott-system-im-wanken-wake-news-radiotv/",
            "https://terraherz.wordpress.com/2016/07/29/absolutes-chaos-im-anmarsch-wake-news-radiotv-26-7-16/",
            "https://vugwakenews.wordpress.com/2016/07/31/neuer-justiz-skandal-in-besatzerfirma-baden-wurttemberg-mensch-rafael-von-ns-ausnahmegricht-abgeurteilteingesperrt/",
            "https://mywakenews.wordpress.com/2016/07/31/neuer-justiz-skandal-in-besatzerfirma-baden-wurttemberg-mensch-rafael-von-ns-ausnahmegericht-abgeurteilteingesperrt/",
            "https://vugwakenews.wordpress.com/2016/07/31/mutter-in-not-2-madchen-entfuhrt-von-berliner-justiz-jugendamt-mafia/",
            "https://mywakenews.wordpress.com/2016/08/02/sommerpause-oder-vorbereitung-auf-was-da-kommt-wake-news-radiotv/",
            "https://terraherz.wordpress.com/2016/08/03/das-bankrott-system-im-wanken-wake-news-radiotv-28-7-16/",
        ),
        citations=(
            "http://www.wakenews.tv/watch.php?vid=49c75e328",
            "https://en.wikipedia.org/wiki/Psychological_Operations_(United_States)",
            "https://de.wikipedia.org/wiki/Psychologische_Kriegsf%C3%BChrung",
            "https://www.youngdata.de/news/detail/?tx_ttnews%5Btt_news%5D=198&cHash=890370c8c300d10dc09a5c105199b3c1",
            "http://www.thesleuthjournal.com/wheels-fall-off-isis-psyop-forcing-new-meme-iran-nukes/",
        ),
        authors=("Hawey",),
    ),
    "wpcom-de-threaded-40c-5p.html": Expected(
        url="https://gormulus.wordpress.com/2012/12/11/das-wird-man-ja-wohl-noch-sagen-durfen/",
        title="„Das wird man ja wohl noch sagen dürfen!“",
        canonical="https://gormulus.wordpress.com/2012/12/11/das-wird-man-ja-wohl-noch-sagen-durfen/",
        comments=40,
        pings=5,
        sources=(
            "https://gormulus.wordpress.com/2012/12/09/israel-von-grabenkampfen-und-dem-wert-wahrer-freundschaft/",
            "http://popcornpiraten.de/das-wird-man-ja-wohl-noch-sagen-durfen/",
            "http://www.scoop.it/t/piraten/p/3687784925/das-wird-man-ja-wohl-noch-sagen-durfen",
            "http://esfaehrtkeinschiffnachdenver.wordpress.com/2014/01/28/heckenschutzen/",
            "http://esfaehrtkeinschiffnachdenver.wordpress.com/2014/01/28/viii-heckenschutzen/",
        ),
        citations=(
            "https://twitter.com/tarzun",
            "http://www.ruhrbarone.de/die-linke-duisburg-antisemitische-hetze-zum-download/",
            "http://news.piratenpartei.de/showthread.php?tid=252035&pid=1333233#pid1333233",
            "http://pastebin.com/KwBRNb0n",
        ),
    ),
    "wpcom-en-blog-13c.html": Expected(
        url="https://en.blog.wordpress.com/2019/06/19/want-to-see-a-more-diverse-wordpress-contributor-community-so-do-we/",
        title="Want to See a More Diverse WordPress Contributor Community? So Do We.",
        canonical="https://en.blog.wordpress.com/2019/06/19/want-to-see-a-more-diverse-wordpress-contributor-community-so-do-we/",
        comments=13,
        pings=0,
        citations=(
            "https://make.wordpress.org/training/handbook/lesson-plans/speaker-training/",
            "https://make.wordpress.org/",
            "https://make.wordpress.org/community/handbook/meetup-organizer/event-formats/diversity-speaker-training-workshop/",
            "http://diversein.tech/wordpress-sponsors/",
        ),
    ),
    "wp-en-californiaglobe-12c-8p.html": Expected(
        url="https://californiaglobe.com/section-2/amazon-liable-for-defective-third-party-products-rules-ca-appelate-court/",
        title="Amazon Liable for Defective Third-Party Products Rules CA Appellate Court",
        canonical="https://californiaglobe.com/section-2/amazon-liable-for-defective-third-party-products-rules-ca-appelate-court/",
        comments=12,
        pings=8,
        sources=(
            "https://news.ycombinator.com/item?id=24174276",
            "https://gisttree.com/reviews/amazon-liable-for-defective-third-party-products-rules-ca-appellate-court/",
            "https://hackernewsrobot.wordpress.com/2020/08/16/amazon-liable-for-defective-third-party-products-rules-ca-appellate-court/",
            "https://5kmarketing.com/2020/08/14/amazon-liable-for-defective-third-party-products-rules-ca-appellate-court/",
            "http://dyspepsiageneration.com/?p=221331",
            "https://snapzubusiness.wordpress.com/2020/08/17/amazon-liable-for-defective-third-party-products-rules-ca-appellate-court/",
            "https://snapzupolitics.wordpress.com/2020/08/17/amazon-liable-for-defective-third-party-products-rules-ca-appellate-court/",
            "https://seekalgo.net/amazon-liable-for-defective-third-party-products-rules-ca-appellate-court/",
        ),
        citations=(
            "https://6f45g2d4rjnipqbg27qcdg1a-wpengine.netdna-ssl.com/wp-content/uploads/2020/08/Amazon-is-liable-81720-8.18-AM.mp3",
            "https://www.mtsu.edu/first-amendment/article/1070/communications-decency-act-of-1996",
        ),
    ),
    "wp-avada-de-pings-as-comments.html": Expected(
        url="https://moritz-meyer.net/blog/vreni-frost-instagram-abmahnung/",
        title="Ich habe das Vreni Frost-Urteil gelesen. Das müsst ihr jetzt dazu wissen.",
        canonical="https://moritz-meyer.net/blog/vreni-frost-instagram-abmahnung/",
        comments=20,
        pings=16,
        sources=(
            "https://castlemaker.de/kennzeichnung-der-blogartikel/",
            "https://chaoshoch2.com/2018/06/22/instagram-werbung-werbung-werbung/",
            "https://www.eileens-good-vibes.de/werbung-weils-so-muss/",
            "https://www.basicthinking.de/blog/2018/06/27/vreni-frost-urteil-folgen/",
            "https://greenshadesofred.de/2018/06/27/naturkosmetik-neuheiten-linkliebe-im-mai-juni-2018/",
            "https://blog.austria-insiderinfo.com/treibgut/kennzeichnung-werbung/",
            "https://crafting-cafe.de/crafting-linktipps-juni-2018/",
            "https://seitenglueck.wordpress.com/2018/07/01/blog-glueck-juni-2018/",
            "https://frl-immergruen.de/monatsrueckblick-juni-2018/",
            "http://www.projecter.de/blog/social-media/auslese-juni-2018.html",
            "https://online-zeichenkurs.de/fotografieren-digitale-bildbearbeitung/werbung-in-sozialen-medien-facebook-instagram-twitter-19418.html",
            "http://www.stellasternstunde.de/was-man-jetzt-uber-die-kennzeichnung-von-werbung-in-sozialen-netzwerken-wissen-sollte-was-muss-uberhaupt-gekennzeichnet-werden/",
            "https://www.zeilenabstand.net/wie-influencer-vom-verband-sozialer-wettbewerb-abgemahnt-werden/",
            "http://digital-evangelist.de/2018/07/25/ist-jetzt-alles-werbung/",
            "https://1ppm.de/2018/08/freundeskreis/",
            "http://www.stellasternstunde.de/social-media-wissen-fuer-blogger/was-man-jetzt-uber-die-kennzeichnung-von-werbung-in-sozialen-netzwerken-wissen-sollte-was-muss-uberhaupt-gekennzeichnet-werden/",
        ),
        citations=(
            "https://www.neverever.me/werbung-verband-sozialer-wettbewerb/",
            "https://www.mobilegeeks.de/artikel/gefaehrliches-instagram-urteil-ihr-macht-unser-internet-kaputt/",
            "https://de.gofundme.com/vrenijusticeleague",
            "https://www.wuv.de/marketing/die_influencer_jaeger",
            "https://www.die-medienanstalten.de/themen/werbeaufsicht/",
        ),
    ),
    "wp-de-creativecommons-3c-2p.html": Expected(
        url="https://de.creativecommons.org/index.php/2014/03/20/endlich-wird-es-spannend-die-nc-einschraenkung-nach-deutschem-recht/",
        title="Endlich wird es spannend: Die NC-Einschränkug nach deutschem Recht",
        canonical="https://de.creativecommons.org/index.php/2014/03/20/endlich-wird-es-spannend-die-nc-einschraenkung-nach-deutschem-recht/",
        comments=3,
        pings=2,
        sources=(
            "http://www.rechtsanwaltwahlers.de/lg-koeln-zur-by-nc-creative-commons-lizenz/",
            "http://www.offenenetze.de/2014/04/04/it-lawcamp-2014-5-4-2014-frankfurt-am-main/",
        ),
        citations=(
            "https://wiki.creativecommons.org/FAQ#Does_my_use_violate_the_NonCommercial_clause_of_the_licenses.3F",
            "http://irights.info/webschau/creative-commons-landgericht-koeln-sieht-deutschlandradio-als-kommerziellen-nutzer/22162",
            "https://netzpolitik.org/2014/urteil-des-lg-koeln-zu-creative-commons-im-oeffentlich-rechtlichen-rundfunk/#more-64134",
        ),
        authors=("Michael Blahm", "GoldKind", "Robbinho"),
    ),
    "wp-de-erpnews-selfpings-only.html": Expected(
        url="https://erp-news.info/erp-interview-mit-um-digitale-assistenten-und-kuenstliche-intelligenz-ki/",
        title="ERP-Interview mit *um: digitale Assistenten und künstliche Intelligenz (KI)",
        canonical="https://erp-news.info/erp-interview-mit-um-digitale-assistenten-und-kuenstliche-intelligenz-ki/",
        comments=0,
        pings=2,
        sources=(
            "https://erp-news.info/erp-interview-mit-scopevisio-digitale-assistenten-und-kuenstliche-intelligenz-ki/",
            "https://erp-news.info/erp-interview-mit-tecart-digitale-assistenten-und-kuenstliche-intelligenz-ki/",
        ),
    ),
    "wp-de-steinhau-1pingback.html": Expected(
        url="http://www.steinhau.com/steinhau/wordpress/einmal-zahlen-alles-lesen/",
        title="Einmal zahlen, alles lesen",
        canonical="http://www.steinhau.com/steinhau/wordpress/einmal-zahlen-alles-lesen/",
        comments=0,
        pings=1,
        sources=(
            "http://www.steinhau.com/hest/wordpress/artikel-ueber-ein-netflix-fuer-journalismus-und-was-verlage-davon-halten/",
        ),
        citations=(
            "https://meedia.de/2017/12/06/wir-brauchen-ein-netflix-fuer-journalismus-digitalexperte-gutjahr-fordert-medien-allianz-fuer-paid-content/",
            "https://www.medienanstalt-nrw.de/foerderung/forschung/aktuelle-forschungsprojekte/money-for-nothing-and-content-for-free.html",
            "https://www.heise.de/newsticker/meldung/Nutzer-wollen-ein-Netflix-oder-Spotify-fuer-Journalismus-4460143.html",
            "https://meedia.de/2019/07/03/ein-spotify-fuer-den-journalismus-fuenf-strategien-zur-steigerung-der-zahlungsbereitschaft-im-netz/",
        ),
    ),
    "wp-divi-pinglist-no-class.html": Expected(
        url="https://www.wolfgangmichal.de/2017/06/07/publizistische-sorgfaltspflicht-statt-netzwerkdurchsetzungsgesetz/",
        title="Publizistische Sorgfaltspflicht statt Netzwerkdurchsetzungsgesetz",
        canonical="https://www.wolfgangmichal.de/2017/06/07/publizistische-sorgfaltspflicht-statt-netzwerkdurchsetzungsgesetz/",
        comments=2,
        pings=2,
        sources=(
            "http://wolfwitte.de/known/2017/untitled-51",
            "http://www.wolfgangmichal.de/2018/01/das-netzdg-ein-bumerang-fuer-heiko-maas/",
        ),
        citations=(
            "http://www.swr.de/swraktuell/cyberattacken-und-fake-news-manipulationen-bei-bundestagswahl-befuerchtet/-/id=396/did=18647896/nid=396/ayxrpo/index.html",
            "http://www.sueddeutsche.de/politik/frankreich-wahl-macron-ist-nach-hacker-angriff-zum-schweigen-verdammt-1.3493828",
            "https://www.bmjv.de/SharedDocs/Gesetzgebungsverfahren/Dokumente/RegE_NetzDG.pdf?__blob=publicationFile&v=2",
            "https://netzpolitik.org/2017/analyse-so-gefaehrlich-ist-das-neue-hate-speech-gesetz-fuer-die-meinungsfreiheit/",
        ),
        authors=("Trockenduscher", "Oydenos"),
    ),
    "wayback-wp-de-33c-1p.html": Expected(
        url=WAYBACK + "http://the-pain.net/2008/05/silkroad-roc-mountain-quests-und-npcs.html",
        title="Silkroad Roc Mountain Quests und NPC’s",
        canonical="http://the-pain.net/2008/05/silkroad-roc-mountain-quests-und-npcs.html",
        comments=33,
        pings=1,
        sources=("http://the-pain.net/2008/09/neu-komplette-silkroad-quest-datenbank.html",),
    ),
    "wp-en-lemire-5c.html": Expected(
        url="https://lemire.me/blog/2019/08/02/json-parsing-simdjson-vs-json-for-modern-c/",
        title="JSON parsing: simdjson vs. JSON for Modern C++",
        canonical="https://lemire.me/blog/2019/08/02/json-parsing-simdjson-vs-json-for-modern-c/",
        comments=5,
        pings=0,
        citations=("https://github.com/lemire/simdjson", "https://github.com/nlohmann/json"),
        authors=("degski", "degski", "Daniel Lemire", "wmu", "Daniel Lemire"),
    ),
    "wp63-genesis-en-18c.html": Expected(
        url="https://elavegan.com/peanut-butter-truffles/",
        title="Peanut Butter Truffles",
        canonical="https://elavegan.com/peanut-butter-truffles/",
        comments=18,
        pings=0,
        citations=(
            "https://amzn.to/2vWe0o8",
            "https://amzn.to/2yr4XJb",
            "http://l.thrv.me/ev-thrive-market-coconut-flour",
            "https://www.instagram.com/elavegan/",
            "https://elavegan.com/lemon-coconut-balls/",
            "https://elavegan.com/homemade-ferrero-rocher/",
            "https://elavegan.com/de/vegane-erdnussbutter-pralinen/",
        ),
    ),
    "wp-de-netzpolitik-74c-deep.html": Expected(
        url="https://netzpolitik.org/2016/die-cider-connection-abmahnungen-gegen-nutzer-von-creative-commons-bildern/",
        title="Die Cider Connection: Abmahnungen gegen Nutzer von Creative-Commons-Bildern",
        canonical="https://netzpolitik.org/2016/die-cider-connection-abmahnungen-gegen-nutzer-von-creative-commons-bildern/",
        comments=74,
        pings=0,
        citations=(
            "https://irights.info/artikel/vermehrte-abmahnungen-bei-creative-commons-fotos/27407",
            "http://www.it-recht-deutschland.de/?p=279361",
            "https://www.getdigital.de/blog/neues-von-trade-buzzer-und-geek-nerd/",
            "http://von-wegen-abmahnung.de/blog/98-abmahnung-ra-sebastian-22-jump-street",
        ),
    ),
    "wptavern-epoch-js-comments-13c.html": Expected(
        url="https://wptavern.com/stack-overflow-jobs-data-shows-reactjs-skills-in-high-demand-wordpress-market-oversaturated-with-developers",
        title="Stack Overflow Jobs Data Shows ReactJS Skills in High Demand, "
        "WordPress Market Oversaturated with Developers",
        canonical="https://wptavern.com/stack-overflow-jobs-data-shows-reactjs-skills-in-high-demand-wordpress-market-oversaturated-with-developers",
        comments=13,
        pings=0,
        citations=(
            "https://stackoverflow.blog/2017/03/09/developer-hiring-trends-2017/",
            "http://stackoverflow.com/jobs",
            "http://stackoverflow.com/jobs?sort=i&q=wordpress",
            "https://www.openhub.net/p/wordpress/analyses/latest/languages_summary",
        ),
        authors=(
            "Sallie Goetsch",
            "Rarst",
            "Barry Kooij",
            "Ahmad Awais",
            "Barry Kooij",
            "Ammon",
            "Ashiquzzaman",
            "djsteveb",
            "Slava Abakumov",
            "Rick Rottman",
            "Sallie Goetsch",
            "Rick Rottman",
            "Sallie Goetsch",
        ),
    ),
    "blogger-de-2c-backlinks-empty.html": Expected(
        url="https://abookshelffullofsunshine.blogspot.com/2013/10/news-viertes-eigenes-blog-interview.html",
        title="(News) Viertes eigenes Blog-Interview: Dieses Mal mit Anne Lück",
        canonical="https://abookshelffullofsunshine.blogspot.com/2013/10/news-viertes-eigenes-blog-interview.html",
        comments=2,
        pings=0,
        citations=(
            # the same blog under its .de country domain: normalised to .blogspot.com
            "http://abookshelffullofsunshine.blogspot.com/2013/10/buchvorstellung-endless-life-von-anne.html",
        ),
        authors=("Ruby", "Unknown"),
    ),
    "forum-vbulletin-iso8859-1.html": Expected(
        url="https://www.pocketpc.ch/windows-phone-7-allgemein/122760-microsoft-beginnt-auslieferung-vorbereitungsupdate-34.html",
        title="Microsoft beginnt mit der Auslieferung des Vorbereitungsupdate! - Seite 34",
        canonical=None,  # not checked: carries a session id
        comments=0,
        pings=0,
        is_post=False,
    ),
}


def read_page(name: str) -> str:
    raw = (CORPUS / name).read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("iso-8859-1")  # the forum page declares ISO-8859-1


@pytest.fixture(scope="module")
def results() -> dict[str, Extraction]:
    return {name: extract(read_page(name), exp.url) for name, exp in EXPECTED.items()}


def test_manifest_lists_the_files_we_check() -> None:
    manifest = (CORPUS / "MANIFEST.md").read_text(encoding="utf-8")
    headings = [line for line in manifest.splitlines() if line.startswith("## ") and "`" in line]
    listed = {line.split("`")[1] for line in headings}
    html_files = {name for name in listed if name.endswith(".html")}
    assert html_files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_counts_and_title(name: str, results: dict[str, Extraction]) -> None:
    exp, got = EXPECTED[name], results[name]
    kinds = Counter(c.kind for c in got.comments)
    assert (kinds["comment"], kinds["pingback"] + kinds["trackback"]) == (exp.comments, exp.pings)
    assert got.title == exp.title
    assert got.is_post is exp.is_post
    if exp.canonical is not None:
        assert got.canonical == normalize_url(exp.canonical)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_ping_sources(name: str, results: dict[str, Extraction]) -> None:
    exp, got = EXPECTED[name], results[name]
    sources = [c.source_url for c in got.comments if c.kind != "comment"]
    assert sources == [normalize_url(u) for u in exp.sources]
    ping_links = [link.dst for link in got.links if link.kind in ("pingback", "trackback")]
    assert set(ping_links) == set(sources)
    assert all(c.source_title for c in got.comments if c.kind != "comment")


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e.citations))
def test_citation_samples(name: str, results: dict[str, Extraction]) -> None:
    exp, got = EXPECTED[name], results[name]
    citations = {link.dst for link in got.links if link.kind == "citation"}
    missing = [u for u in exp.citations if normalize_url(u) not in citations]
    assert not missing


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e.authors))
def test_comment_authors(name: str, results: dict[str, Extraction]) -> None:
    exp, got = EXPECTED[name], results[name]
    authors = [c.author or "" for c in got.comments if c.kind == "comment"]
    assert len(authors) >= len(exp.authors)
    # a commenter may add to the name ("Sallie Goetsch (rhymes with sketch)")
    assert all(a.startswith(e) for a, e in zip(authors, exp.authors, strict=False))


def test_every_comment_has_text(results: dict[str, Extraction]) -> None:
    empty = [
        (name, c.comment_id)
        for name, got in results.items()
        for c in got.comments
        if c.kind == "comment" and not c.text
    ]
    assert not empty


def test_no_citations_from_a_post_without_outbound_links(results: dict[str, Extraction]) -> None:
    """The Wayback page's body has only images and own pages; erp-news has none outside."""
    got = results["wayback-wp-de-33c-1p.html"]
    outbound = [
        link.dst for link in got.links if link.kind == "citation" and "the-pain.net" not in link.dst
    ]
    assert not outbound
    assert not any("web.archive.org/web/" in link.dst for link in got.links)


def test_replytocom_never_becomes_a_link(results: dict[str, Extraction]) -> None:
    for got in results.values():
        assert not any("replytocom" in link.dst for link in got.links)
