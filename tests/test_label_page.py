"""The labeling page: the server's answers to good and bad requests, then a person's session in a headless chromium
(keyboard, drag, a tie, undo, the server killed and restarted, untrusted text, no request beyond this machine)."""

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rlhf_recipes import reward
from rlhf_recipes.common import files, formats
from rlhf_recipes.common.errors import RecipeError
from rlhf_recipes.labeling import server
from rlhf_recipes.labeling import sheet as sheets
from tests.conftest import QUICKSTART, run_stage

REPO = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
XSS = '<img src=x onerror="window.pwned=1"><script>window.pwned=1</script>'
TOPICS = {
    "How was the pizza?": "pizza",
    "Describe the coffee.": "coffee",
    "Tell me about the hotel.": "hotel",
    "What did you think of the movie?": "movie",
}


def make_sheet(path: Path) -> sheets.Sheet:
    """4 rows x 3 responses of the built-in task; the first row's last response is a script and an image."""
    rows = []
    for n, (prompt, topic) in enumerate(TOPICS.items(), 1):
        texts = [f"The {topic} was great.", f"The {topic} was cold and dull.", f"The {topic} was."]
        if n == 1:
            texts[2] = f"The {topic} was {XSS} fine."
        responses = [{"text": t, "policy": "sft", "seed": 0, "temperature": 0.7, "max_new_tokens": 32} for t in texts]
        rows.append({"id": f"r{n}", "prompt": prompt, "responses": responses})
    return sheets.write(path, rows)


def request(port: int, method: str, path: str, body=None, headers: dict | None = None) -> tuple[int, dict]:
    """(status, JSON reply) of one request to the page's server; `body` is sent as JSON unless it is bytes."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    connection.request(method, path, data, {"Content-Type": "application/json", **(headers or {})})
    reply = connection.getresponse()
    content = reply.read()
    connection.close()
    return reply.status, json.loads(content) if reply.getheader("Content-Type") == "application/json" else {}


@pytest.fixture
def running(tmp_path):
    """(sheet, port) of a server on a free port, in a thread."""
    sheet = make_sheet(tmp_path / "sheet.jsonl")
    httpd = server.make_server(sheet, port=0)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield sheet, httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_a_port_in_use_is_one_message_naming_the_fix(tmp_path):
    sheet = make_sheet(tmp_path / "sheet.jsonl")
    first = server.make_server(sheet, port=0)
    try:
        with pytest.raises(RecipeError, match=rf"port {first.server_address[1]} on 127.0.0.1 is in use.*--port"):
            server.make_server(sheet, port=first.server_address[1])
    finally:
        first.server_close()


def test_an_answer_is_on_disk_and_in_the_rankings_before_the_reply(running):
    sheet, port = running
    status, state = request(port, "GET", "/api/state?labeler=ann")
    assert status == 200 and state["progress"] == {"total": 4, "ranked": 0, "skipped": 0, "next": "r1"}
    assert state["row"] == {
        "id": "r1",
        "prompt": "How was the pizza?",
        "responses": [r["text"] for r in sheet.rows[0]["responses"]],
    }  # only the texts
    assert (state["responses"], state["can_undo"], state["sheet"]) == (3, False, "sheet.jsonl")
    status, state = request(port, "POST", "/api/answer", {"labeler": " ann ", "row": "r1", "ranking": [[1], [0, 2]]})
    assert status == 200 and state["progress"]["ranked"] == 1 and state["row"]["id"] == "r2" and state["can_undo"]
    events = sheets.read_answers(sheet)
    assert [(e["row"], e["labeler"], e["ranking"]) for e in events] == [("r1", "ann", [[1], [0, 2]])]
    assert "The pizza was cold and dull.|The pizza was great.|" in sheet.rankings_path.read_text()
    status, state = request(port, "POST", "/api/answer", {"labeler": "ann", "row": "r2", "skipped": True})
    assert status == 200 and state["progress"] == {"total": 4, "ranked": 1, "skipped": 1, "next": "r3"}
    status, state = request(port, "POST", "/api/undo", {"labeler": "ann"})
    assert status == 200 and state["row"]["id"] == "r2" and sheets.read_answers(sheet)[-1]["undo"]


@pytest.mark.parametrize(
    "body, message",
    [
        ({"labeler": "ann", "row": "r9", "ranking": [[0], [1], [2]]}, "no row 'r9'"),
        ({"labeler": "ann", "row": "r1", "ranking": [[0], [0], [1]]}, "orders each of its 3 responses once"),
        ({"labeler": "ann", "row": "r1", "ranking": [[0.0], [1], [2]]}, "orders each of its 3 responses once"),
        ({"labeler": "ann", "row": "r1"}, "a ranking, a skip or an undo"),
        ({"labeler": "", "row": "r1", "ranking": [[0], [1], [2]]}, "labeler: give a name"),
        ({"labeler": "ann", "row": ["r1"], "ranking": [[0], [1], [2]]}, "row: expected a row id"),
        (b"{not json", "not JSON"),
        ([1, 2], "expected a JSON object"),
    ],
)
def test_a_bad_answer_is_400_with_its_message_and_nothing_written(running, body, message):
    sheet, port = running
    status, reply = request(port, "POST", "/api/answer", body)
    assert status == 400 and message in reply["error"]
    assert not sheet.answers_path.exists() and not sheet.rankings_path.exists()


def test_undo_with_nothing_to_undo_is_409(running):
    _, port = running
    status, reply = request(port, "POST", "/api/undo", {"labeler": "ann"})
    assert status == 409 and reply["error"] == "nothing to undo: ann has no answer standing on sheet.jsonl."


def test_no_request_reaches_another_file_or_comes_from_another_site(running):
    sheet, port = running
    for path in ("/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/page.html", "/sheet.jsonl", "/api/state/../x"):
        assert request(port, "GET", path)[0] == 404, path
    assert request(port, "GET", "/", headers={"Host": "attacker.example:8765"})[0] == 403  # DNS rebinding
    form = request(port, "POST", "/api/answer", b"labeler=ann&row=r1", {"Content-Type": "text/plain"})
    assert form[0] == 400 and "application/json" in form[1]["error"]  # another site's form post
    assert not sheet.answers_path.exists()


def test_the_page_is_self_contained_and_sets_text_only():
    page = (REPO / "rlhf_recipes" / "labeling" / "page.html").read_text()
    assert not re.search(r"https?://|//cdn|@import|src=", page)  # nothing fetched from elsewhere
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", page)
    assert server.prompt_text([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yes?"}]) == (
        "user: Hi\n\nassistant: Yes?"
    )


# --- in a browser ---------------------------------------------------------------------------------------------------

SERVE = (
    "import sys; from rlhf_recipes.common import logs; from rlhf_recipes.labeling import server, sheet; "
    "logs.setup(); server.serve(sheet.load(sys.argv[1]), '127.0.0.1', int(sys.argv[2]))"
)
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1000,820",
)


def start_server(sheet: sheets.Sheet, port: int, log: Path) -> tuple[subprocess.Popen, int]:
    """The page's server in its own process (so it can be killed outright); (process, port) once it listens."""
    command, env = [sys.executable, "-c", SERVE, str(sheet.path), str(port)], os.environ | {"PYTHONPATH": str(REPO)}
    with open(log, "w") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        found = re.findall(r"http://127\.0\.0\.1:(\d+)", log.read_text())
        if found:
            return process, int(found[0])
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"the server did not start:\n{log.read_text()}")


@pytest.fixture
def browser(tmp_path):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        reason = (
            "the labeling page test needs Debian's chromium and chromium-driver (/usr/bin/chromium, "
            "/usr/bin/chromedriver): apt-get install chromium chromium-driver"
        )
        if os.environ.get("CI"):
            pytest.fail(reason + " (.ci/run installs them)")
        pytest.skip(reason)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("the labeling page test needs selenium (pip install -e '.[dev]')")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # the page's console, read by the test
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield driver
    driver.quit()


def test_a_person_ranks_a_sheet_on_the_page_through_a_crash(browser, tmp_path, tiny_dir):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    sheet = make_sheet(tmp_path / "sheet.jsonl")

    def find(css):
        return driver.find_element(By.CSS_SELECTOR, css)

    def order():
        return [int(e.get_attribute("data-index")) for e in driver.find_elements(By.CSS_SELECTOR, ".response")]

    def keys(*k):
        return ActionChains(driver).send_keys(*k).perform()  # to the focused element

    def drag(source: str, target: str, after: bool):
        """A mouse drag (an HTML5 drag in chromium) onto the upper or lower half of `target`."""
        onto = find(target)
        offset = onto.size["height"] // 4 * (1 if after else -1)
        # One move: chromedriver starts the drag on it and fires dragover there; the page's handlers reorder.
        chain = ActionChains(driver).click_and_hold(find(source))
        chain.move_to_element_with_offset(onto, 0, offset).release().perform()

    def until(check, what: str):
        WebDriverWait(driver, 10).until(lambda _: check(), f"waiting for {what}")

    def showing(row: str, progress: str):
        until(
            lambda: find("#progress").text == progress and find("#row-id").text.endswith(row),
            f"{row} and {progress!r}, showing {find('#row-id').text!r}, {find('#progress').text!r}",
        )

    def answers() -> list:
        return [
            (e["row"], e.get("ranking") or [k for k in ("skipped", "undo") if e.get(k)])
            for e in sheets.read_answers(sheet)
        ]

    process, port = start_server(sheet, 0, tmp_path / "server1.log")
    try:
        # The name first, remembered by the browser.
        driver.get(f"http://127.0.0.1:{port}/")
        until(lambda: find("#labeler").is_displayed(), "the name field")
        find("#labeler").send_keys("ann")
        find("#start").click()
        showing("r1", "0 of 4 ranked")
        assert find("#prompt").text == "How was the pizza?"
        # Untrusted text shows as text, and ran nothing.
        assert find('.response[data-index="2"] .text').text == f"The pizza was {XSS} fine."
        assert not driver.find_elements(By.CSS_SELECTOR, "#responses img, #responses script")
        assert driver.execute_script("return typeof window.pwned") == "undefined"

        # Row 1 by keyboard: pick 2 then 3, Alt+Up, focus down, j; Enter.
        keys("2", "3")
        assert order() == [1, 2, 0]
        ActionChains(driver).key_down(Keys.ALT).send_keys(Keys.ARROW_UP).key_up(Keys.ALT).perform()
        assert order() == [2, 1, 0]
        keys(Keys.ARROW_DOWN, "j")
        assert order() == [2, 0, 1]
        keys(Keys.ENTER)
        showing("r2", "1 of 4 ranked")
        assert answers() == [("r1", [[2], [0], [1]])]  # on disk before the next row showed

        # Row 2 by drag: the third above the first, then the (now) second below the last.
        drag('.response[data-index="2"]', '.response[data-index="0"]', after=False)
        assert order() == [2, 0, 1]
        drag('.response[data-index="0"]', '.response[data-index="1"]', after=True)
        assert order() == [2, 1, 0]
        find("#submit").click()
        showing("r3", "2 of 4 ranked")

        # Row 3 with a tie (keyboard), taken back and ranked again with a tie (mouse).
        keys(Keys.ARROW_DOWN, "t")
        assert find('.response[data-index="1"] .tie').get_attribute("aria-pressed") == "true"
        keys(Keys.ENTER)
        showing("r4", "3 of 4 ranked")
        find("#undo").click()
        showing("r3", "2 of 4 ranked")
        assert order() == [0, 1, 2] and not driver.find_elements(By.CSS_SELECTOR, ".response.tied")
        keys("3")
        find('.response[data-index="0"] .tie').click()
        assert [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".response .rank")] == ["1", "=1", "2"]
        if os.environ.get("RLHF_RECIPES_SCREENSHOT"):
            (REPO / "docs").mkdir(exist_ok=True)
            driver.save_screenshot(str(REPO / "docs" / "labeling_page.png"))
        find("#submit").click()
        showing("r4", "3 of 4 ranked")
        before = [
            ("r1", [[2], [0], [1]]),
            ("r2", [[2], [1], [0]]),
            ("r3", [[0, 1], [2]]),
            ("r3", ["undo"]),
            ("r3", [[2, 0], [1]]),
        ]
        assert answers() == before
        asked = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert asked and all(url.startswith(f"http://127.0.0.1:{port}/api/") for url in asked), asked  # here only
        assert driver.execute_script("return typeof window.pwned") == "undefined"
        assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]  # no script or policy error

        # The server dies mid-session: the page says so, and a skip is not taken for saved.
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        keys("s")
        until(lambda: "not answering" in find("#error").text, "the page to say the server is gone")
        assert find("#progress").text == "3 of 4 ranked" and answers() == before

        # Restarted on the same sheet, a reload resumes: same labeler, same row, nothing lost; a second labeler's
        # ranking (the same as ann's) shows as agreement.
        process, _ = start_server(sheet, port, tmp_path / "server2.log")
        bob = {"labeler": "bob", "row": "r1", "ranking": [[2], [0], [1]]}
        assert request(port, "POST", "/api/answer", bob)[0] == 200
        driver.refresh()
        showing("r4", "3 of 4 ranked")
        assert find("#agreement").text == "Labelers agree on 100% of 3 response pairs (ann, bob)"
        assert not find("#error").is_displayed()
        keys("s")
        until(lambda: find("#done").is_displayed(), "the done message")
        assert find("#progress").text == "3 of 4 ranked · 1 skipped" and "All 4 rows" in find("#done-text").text
    finally:
        process.kill()
        process.wait(10)
    assert answers() == [*before, ("r1", [[2], [0], [1]]), ("r4", ["skipped"])]

    # The rankings file is the reward stage's data: 3 + 3 + 2 pairs of ann (a tie left out), 3 of bob.
    rows = files.load_rows(str(sheet.rankings_path))
    assert rows["Labeler"] == ["ann", "bob", "ann", "ann"] and rows["Ties"] == ["", "", "", "1=2"]
    assert len(formats.to_preference_pairs(rows, str(sheet.rankings_path))) == 11
    # ...and a reward stage trains on it as it is.
    trainer = run_stage(
        reward,
        QUICKSTART / "reward.yaml",
        "--model_name_or_path",
        tiny_dir,
        "--dataset_name",
        str(sheet.rankings_path),
        "--output_dir",
        str(tmp_path / "reward"),
        "--max_steps",
        "4",
        "--per_device_train_batch_size",
        "4",
        "--logging_steps",
        "1",
        "--eval_strategy",
        "no",
    )
    assert trainer.state.global_step == 4 and (tmp_path / "reward" / "merged" / "config.json").exists()
