"""The teacher's checks after "Wait", slips, forced closes, JSON answers and hard problems.

What the demo model learns after a "Wait" must begin token for token as the
server splices it, or a forced wait stays out of the training distribution.
"""

from __future__ import annotations

import json
import random
import re
from itertools import pairwise

import pytest

from distill import teacher
from distill.evaluate import Conversation, has_answer_form, held_out
from distill.problem import CUT, FORCED, SPLICE, plain
from distill.train import encode_chat, synthetic_chats
from server.budget import DEFAULT_CLOSE_TEXT, DEFAULT_WAIT_TEXT
from server.prompts import load_tokenizer
from tests.conftest import REPO

SCORED = ("add", "subtract", "count", "compare", "sort")


@pytest.fixture(scope="module")
def tokenizer():  # type: ignore[no-untyped-def]
    return load_tokenizer(REPO / "models" / "aha-demo")


def sample(task: str, count: int = 60, seed: int = 5) -> list[teacher.Problem]:
    return teacher.sample("train", count, seed, tasks=(task,))


def ids(tokenizer, text: str) -> list[int]:  # type: ignore[no-untyped-def]
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


@pytest.mark.parametrize("task", SCORED)
def test_each_check_begins_where_the_server_splices_its_wait(tokenizer, task: str) -> None:  # type: ignore[no-untyped-def]
    """The model writes its thinking up to a newline and would close it there; the server
    appends the wait text's ids in place of "</think>". The training reply holds exactly
    those ids at that point, and the model's own tokens before them are unchanged. The
    first check's "Wait" is the model's own (learnt); every later one is the server's
    (read, not learnt), so what is learnt after every check is to stop."""
    wait_ids = ids(tokenizer, DEFAULT_WAIT_TEXT)
    for problem in sample(task, 20):
        num_rounds = 4
        example = encode_chat(tokenizer, problem.messages(num_rounds), max_len=4096)
        assert example is not None
        start = len(ids(tokenizer, str(tokenizer.apply_chat_template(
            problem.messages()[:1], add_generation_prompt=True, tokenize=False))))
        reply = example.input_ids[start:]
        learnt = [label != -100 for label in example.labels[start:]]
        assert all(label == -100 for label in example.labels[:start])
        assert problem.trace(num_rounds).count("\n" + DEFAULT_WAIT_TEXT) >= num_rounds
        for i in range(num_rounds):
            # Thinking as the model emits it when it stops before check i.
            before = [t for piece in (problem.first_pass, *problem.rounds[:i])
                      for t in ids(tokenizer, piece + "\n")]
            assert reply[:len(before)] == before
            # Only the forced waits before it are unlearnt.
            assert learnt[:len(before)].count(False) == max(0, i - 1) * len(wait_ids)
            at = slice(len(before), len(before) + len(wait_ids))
            assert reply[at] == wait_ids
            assert all(learnt[at]) if i == 0 else not any(learnt[at])
        # After the last check the model closes its thinking: learnt.
        end = ids(tokenizer, "</think>")[0]
        assert learnt[reply.index(end)]


@pytest.mark.parametrize("task", SCORED)
def test_every_check_keeps_the_answer_and_a_slip_is_corrected(task: str) -> None:
    problems = sample(task)
    slipped = [p for p in problems if p.slip]
    assert len(slipped) >= 10
    for p in problems:
        rounds = p.trace(9).split("\nWait")[1:]
        assert len(rounds) == 9
        for text in rounds:
            if task == "count":
                assert re.search(rf"\b{p.expected}\b", text), text
            elif task in ("add", "subtract") and "every way I know" in text:
                # A sum's restating line carries no digits to drift (problem.routes_then_restated)
                assert not re.search(r"\d", text), text
            else:
                assert p.expected in text, text
            if task in ("compare", "sort"):  # the answer copies the line above </think>
                # compare's reread may end on its own deciding line (tasks._reread_whole_parts)
                ends = (p.trace(1).splitlines()[-1], f"number, {p.expected}, is larger.")
                assert text.endswith(ends) if task == "compare" else text.endswith(ends[0]), text
    for p in slipped:
        first, catch = p.slip  # type: ignore[misc]
        concluded = first.splitlines()[-1]
        if task in ("add", "subtract"):
            assert not concluded.endswith(f" {p.expected}.")
        elif task == "count":
            assert not re.search(rf"there (is|are) {p.expected} ", concluded), concluded
        elif task == "sort":
            assert p.expected not in concluded
        assert "I slipped" in catch and p.expected in catch.splitlines()[-1]
        trace = p.trace(3, slipped=True)
        assert trace.startswith(first) and catch in trace
        if p.confirmed is not None:  # the first check lets it through, the second catches it
            late = p.trace(3, slipped=True, late=True).split("\nWait")
            assert late[1] == p.confirmed.removeprefix("Wait") and "I slipped" not in late[1]
            assert "I slipped" in late[2]
            if task == "sort":  # the check that lets the slip through restates it
                assert late[1].splitlines()[-1] == concluded


def test_later_checks_take_other_routes_then_restate_the_result() -> None:
    for task in SCORED:
        p = sample(task, 5)[0]
        openings = [r.splitlines()[0].split(":")[0] for r in p.rounds]
        assert len(set(openings[:3])) == 3, openings
        # Once the routes are used up, short checks restate the result: eight forced
        # waits stay inside the trained lengths.
        assert len(set(p.rounds[3:])) == 1 and "every way I know" in p.rounds[-1]
        assert len(p.rounds[-1]) < 120
        # A sum's answer copies its result from the last check that works it out.
        assert (p.expected in p.rounds[-1]) == (task not in ("add", "subtract"))


def test_slips_are_read_not_learnt(tokenizer) -> None:  # type: ignore[no-untyped-def]
    """The planted slip (and a first check that lets it through) is context: learnt, it
    taught the model to slip. The check that catches it is learnt."""
    for task in SCORED:
        for p in [p for p in sample(task, 40) if p.slip][:5]:
            for late in (False, True):
                example = encode_chat(tokenizer, p.messages(3, slipped=True, late=late),
                                      max_len=4096)
                assert example is not None
                start = len(ids(tokenizer, str(tokenizer.apply_chat_template(
                    p.messages()[:1], add_generation_prompt=True, tokenize=False))))
                read = ids(tokenizer, p.slip[0] + "\n")  # type: ignore[index]
                if late and p.confirmed:
                    read += ids(tokenizer, p.confirmed + "\n") + ids(tokenizer, "Wait")
                assert example.input_ids[start:start + len(read)] == read
                assert set(example.labels[:start + len(read)]) == {-100}
                learnt = tokenizer.decode([t for t in example.labels if t != -100])
                assert "I slipped" in learnt and learnt.endswith(p.answer + "<|im_end|>")


def test_walks_that_disagree_are_settled_by_a_third_not_by_the_later(tokenizer) -> None:  # type: ignore[no-untyped-def]
    """After a forced "Wait" the second walk may err. The traces show the two walks
    disagreeing and a third deciding: with the later walk always winning (it caught a
    planted slip), a model believed its garbled second walk over a right one."""
    def counts(text: str) -> list[int]:
        return [int(n) for n in re.findall(r"(?:that makes|there (?:is|are)) (\d+)", text)]

    problems = [p for p in sample("count", 40) if p.disputed]
    assert len(problems) == 40
    for p in problems:
        opening, erring, settled = p.disputed  # type: ignore[misc]
        found = int(p.expected)
        assert counts(erring)[-1:] != [found] and f"but {found} before" in settled
        assert counts(settled.splitlines()[-1]) == [found]
        assert p.trace(4, disputed=True).split("\nWait")[2] == \
            f"{opening}\n{erring}\n{settled}".removeprefix("Wait")
        example = encode_chat(tokenizer, p.messages(4, disputed=True), max_len=4096)
        assert example is not None
        learnt = tokenizer.decode([t for t in example.labels if t != -100])
        assert opening.removeprefix("Wait") in learnt and settled in learnt
        assert erring not in learnt and learnt.endswith(p.answer + "<|im_end|>")
        # The slip a later walk catches is settled the same way: by a third walk.
        catch = p.slip[1]  # type: ignore[index]
        assert counts(catch.splitlines()[-1]) == [found] and "once more" in catch
    assert all(p.trace(1, disputed=True) == p.trace(1) for p in problems)
    assert not any(p.disputed for task in ("compare", "sort") for p in sample(task, 20))


@pytest.mark.parametrize("task", ["add", "subtract"])
def test_sums_that_disagree_are_settled_by_a_third(tokenizer, task: str) -> None:  # type: ignore[no-untyped-def]
    """A recheck that miscopies an operand reaches another sum; the traces say so and work
    the sum once more, as count's walks do, whichever of the two slipped. The forty-second
    run's re-add reached another sum and called it "the same as before"."""
    def results(text: str) -> list[int]:
        return [int(n) for n in re.findall(r"= (\d+)[,.]", text)]

    for p in sample(task, 40):
        opening, erring, settled = p.disputed  # type: ignore[misc]
        found, first_line = int(p.expected), settled.splitlines()[0]
        assert "not" in first_line and "slipped" in first_line
        assert results(first_line)[0] != int(first_line.split("not ")[1].split(":")[0])
        assert results(settled.splitlines()[-1]) == [found]
        assert "the same as the first time" in settled
        example = encode_chat(tokenizer, p.messages(4, disputed=True), max_len=4096)
        assert example is not None
        learnt = tokenizer.decode([t for t in example.labels if t != -100])
        assert opening.removeprefix("Wait") in learnt and settled in learnt
        assert erring not in learnt and learnt.endswith(p.answer + "<|im_end|>")
    for p in [p for p in sample(task, 60) if p.slip]:
        catch = p.slip[1]  # type: ignore[index]
        # A caught slip is settled the same way: the third sum agrees with the second.
        assert "one of the two" in catch and "I slipped" in catch
        assert results(catch.splitlines()[-1]) == [int(p.expected)]


def test_forced_close_traces_hold_the_servers_close_ids(tokenizer) -> None:  # type: ignore[no-untyped-def]
    close_ids = ids(tokenizer, DEFAULT_CLOSE_TEXT) + ids(tokenizer, "</think>")
    rng = random.Random(0)
    for p in sample("add", 10) + sample("sort", 10):
        messages = p.closed_early(rng, DEFAULT_CLOSE_TEXT, num_rounds=2)
        example = encode_chat(tokenizer, messages, max_len=4096)
        assert example is not None
        reply, labels = example.input_ids, example.labels
        at = next(i for i in range(len(reply)) if reply[i:i + len(close_ids)] == close_ids)
        assert all(label == -100 for label in labels[at:at + len(close_ids)])  # spliced
        answer = reply[at + len(close_ids):]
        assert labels[at + len(close_ids):] == answer  # learnt
        assert tokenizer.decode(answer, skip_special_tokens=True).strip() == p.answer


def test_forced_close_cuts_fall_between_any_two_tokens(tokenizer) -> None:  # type: ignore[no-untyped-def]
    """A cap cuts the model's tokens, not its words: the thinking before the close text
    is the uncut trace's tokens up to the cut, and some cuts fall between a walk line's
    number and its full stop (where the previous model, never shown a cut there, went
    on walking inside its answer)."""
    close_ids = ids(tokenizer, DEFAULT_CLOSE_TEXT)
    rng = random.Random(0)
    last_tokens = []
    for p in sample("count", 150) + sample("add", 50):
        whole = encode_chat(tokenizer, p.messages(3), max_len=4096)
        cut = encode_chat(tokenizer, p.closed_early(rng, DEFAULT_CLOSE_TEXT, 3), max_len=4096)
        assert whole is not None and cut is not None
        reply = cut.input_ids
        at = next(i for i in range(len(reply)) if reply[i:i + len(close_ids)] == close_ids)
        assert reply[:at] == whole.input_ids[:at]
        last_tokens.append((tokenizer.decode(reply[at - 1:at]), tokenizer.decode(
            whole.input_ids[at:at + 1])))
    assert any(last.isdigit() and after == "." for last, after in last_tokens)
    assert any(not after.startswith((" ", "\n")) and not last.endswith("\n")
               for last, after in last_tokens)


def test_training_mix_has_checks_slips_closes_and_json(tokenizer) -> None:  # type: ignore[no-untyped-def]
    chats = synthetic_chats(3000, seed=1)
    replies = [c[-1]["content"] for c in chats]
    waits = [plain(r).split("</think>")[0].count("\nWait") for r in replies]
    assert 0.4 < waits.count(1) / len(waits) < 0.6
    assert max(waits) == 9  # one check and eight forced waits
    forced_waits = [r.replace(CUT, "").count(f"{SPLICE}{FORCED}Wait") for r in replies]
    # Every "Wait" after the first is forced, but where a slip passes the first check.
    assert all(n == max(0, w - 1) for n, w, r in zip(forced_waits, waits, replies, strict=True)
               if "I slipped" not in r)
    assert 0.04 < sum("I have thought about this enough" in r for r in replies) / 3000 < 0.1
    # a planted slip: the first pass is read, not learnt
    assert 0.07 < sum(r.startswith(f"<think>\n{FORCED}") for r in replies) / 3000 < 0.17
    counted = [r for r in replies if "letter by letter" in r]
    # a right first pass (learnt) and a second walk that errs
    disputed = [r for r in counted if "this time, but" in r
                and not r.startswith(f"<think>\n{FORCED}")]
    assert 0.05 < len(disputed) / len(counted) < 0.15
    as_json = [r.split("</think>")[1] for r in replies if "</think>{" in r]
    assert 0.01 < len(as_json) / 3000 < 0.05
    assert all("answer" in json.loads(a) for a in as_json)


def test_hard_split_is_held_out_and_hard_by_construction() -> None:
    hard = held_out(100, seed=1234, split="hard")
    train_keys = {p.key for p in teacher.sample("train", 5000, 0)}
    assert not {p.key for p in hard} & train_keys
    assert all(teacher.split_of(p.key) == "test" for p in hard)
    for p in hard:
        if p.task in ("add", "subtract"):
            a, b = map(int, p.key.split(":")[1:])
            assert a >= 100 and b >= 100
        elif p.task == "count":
            word, letter = p.key.split(":")[1:]
            assert letter * 2 in word
        else:
            assert hard_like(p), p.key
    assert held_out(100, seed=1234, split="hard") == hard


def hard_like(p: teacher.Problem) -> bool:
    """A hard list (five numbers, three in one decade) or pair (two-digit whole parts one
    apart, the smaller with the larger tenths digit)."""
    if p.task == "sort":
        tens = [n[0] for n in p.key.split(":")[1].split(", ")]
        return len(tens) == 5 and max(map(tens.count, tens)) == 3
    (wx, fx), (wy, fy) = (n.split(".") for n in p.key.split(":")[1:])
    return min(int(wx), int(wy)) >= 10 and abs(int(wx) - int(wy)) == 1 and (
        int(wx) > int(wy)) == (fx[0] < fy[0])


def test_hard_lists_and_pairs_are_in_the_training_range() -> None:
    """The hard split asks what training draws too, only more often: lists with three
    numbers in a decade and pairs of adjacent two-digit whole parts."""
    held = [p for p in held_out(1000, seed=1234, split="hard")
            if p.task in ("sort", "compare")]
    trained = teacher.sample("train", 5000, seed=3, tasks=("sort", "compare"))
    assert not {p.key for p in held} & {p.key for p in trained}
    assert all(map(hard_like, held))
    for task, low, high in (("sort", 0.02, 0.1), ("compare", 0.005, 0.05)):
        of_task = [p for p in trained if p.task == task]
        assert low < sum(map(hard_like, of_task)) / len(of_task) < high, task


def test_answers_have_their_form_and_json_answers_parse() -> None:
    for task in SCORED:
        for p in sample(task, 10):
            assert has_answer_form(task, p.answer)
            value = json.loads(p.json_answer)["answer"]
            expected = [int(n) for n in p.expected.split(", ")] if task == "sort" else \
                json.loads(p.expected)
            assert value == expected
    assert not has_answer_form("add", "457 + 386 = </think> 843")
    assert not has_answer_form("sort", "From smallest to largest: 12.")


def test_eval_conversations_carry_a_system_prompt_and_earlier_turns() -> None:
    problem = held_out(5, seed=1234)[0]
    messages = Conversation("You are a helpful assistant.", 3).messages(problem, 7)
    assert [m["role"] for m in messages] == ["system", *["user", "assistant"] * 3, "user"]
    assert messages[-1]["content"] == problem.question
    assert all("</think>" not in m["content"] for m in messages)
    assert Conversation().messages(problem, 7) == [{"role": "user",
                                                     "content": problem.question}]
    assert messages == Conversation("You are a helpful assistant.", 3).messages(problem, 7)
    for earlier, later in pairwise(messages[1:-1]):
        assert earlier["role"] != later["role"]


def test_short_split_asks_one_digit_operands_standard_and_hard_never_do() -> None:
    def short(problems: list[teacher.Problem]) -> list[teacher.Problem]:
        return [p for p in problems if p.task in ("add", "subtract")
                and min(map(int, p.key.split(":")[1:])) < 10]

    tested = held_out(200, seed=1234, split="short")
    assert len(short(tested)) == 200 and {p.task for p in tested} == {"add", "subtract"}
    assert all(teacher.split_of(p.key) == "test" for p in tested)
    assert not short(held_out(1000, seed=1234)) and not short(
        held_out(1000, seed=1234, split="hard"))
    trained = teacher.sample("train", 3000, 0)
    arithmetic = [p for p in trained if p.task in ("add", "subtract")]
    # training draws short operands a fifth of the time, on keys no test problem has
    assert 0.1 < len(short(trained)) / len(arithmetic) < 0.3
    assert not {p.key for p in short(trained)} & {p.key for p in tested}
    for p in tested:
        a, b = map(int, p.key.split(":")[1:])
        assert p.expected == str(a + b if p.task == "add" else a - b)
        assert p.first_pass.splitlines()[-1].endswith(f"= {p.expected}.")
        assert p.reasoning.count("Wait") == 1
    with pytest.raises(ValueError, match="split must be one of"):
        held_out(10, seed=1234, split="easy")


def test_training_draws_hard_lists_and_pairs_but_never_held_out_ones() -> None:
    trained = teacher.sample("train", 2000, seed=5, tasks=("sort", "compare"))
    held = {p.key for p in held_out(1000, seed=1234, split="hard")}
    assert not {p.key for p in trained} & held
    lists = [p.key.split(":")[1].split(", ") for p in trained if p.task == "sort"]
    two_shared = [ns for ns in lists if len(ns) == 5
                  and sum([n[0] for n in ns].count(t) > 1 for t in {n[0] for n in ns}) >= 2]
    assert 0.2 < len(two_shared) / len(lists) < 0.5
    pairs = [[n.split(".") for n in p.key.split(":")[1:]] for p in trained
             if p.task == "compare"]
    # different whole parts, the smaller one with the larger tenths digit
    inverted = sum(wx != wy and (int(wx) > int(wy)) == (fx[0] < fy[0])
                   for (wx, fx), (wy, fy) in pairs)
    assert 0.3 < inverted / len(pairs) < 0.7


def test_a_forced_wait_rereads_compare_whole_parts_digit_by_digit() -> None:
    """The check a first forced "Wait" starts reads the whole parts a digit at a time
    and names the larger number itself; a late slip (different whole parts read as the
    same, let through by the first check) is caught there, after the forced "Wait"."""
    problems = sample("compare", 300) + held_out(400, seed=1234, split="hard")
    late = 0
    for p in (p for p in problems if p.task == "compare"):
        x, y = p.key.split(":")[1:]
        (wx, _), (wy, _) = x.split("."), y.split(".")
        check = p.rounds[1].splitlines()
        assert check[0] == (f"Wait, let me read the whole parts again digit by digit: "
                            f"{x} has {wx}, {y} has {wy}.")
        digits = check[1:-1] if wx != wy else check[1:-2]
        if len(wx) == len(wy):  # tens first, in the decimals' line form
            read = [f"{place}: {dx} and {dy}"
                    for place, dx, dy in zip(("Tens", "Ones")[2 - len(wx):], wx, wy,
                                             strict=True)]
            assert [line.split(",")[0].split(".")[0] for line in digits] == \
                read[:len(digits)]
        else:
            assert digits == [f"Digits: {max(wx, wy, key=len)} has two and "
                              f"{min(wx, wy, key=len)} has one. "
                              f"{max(wx, wy, key=len)} is larger."]
        assert all(line.endswith(", the same.") for line in digits[:-1])
        assert digits[-1].endswith(" is larger.") == (wx != wy)
        if wx != wy:  # the reread ends on the line that decides, naming the place
            whole = max(wx, wy, key=int)
            which = "first" if p.expected == x else "second"
            assert check[-1] == f"So the whole parts decide: {whole} is larger, so " \
                                f"the {which} number, {p.expected}, is larger."
        else:  # the decimals decide, as in the first pass, whose conclusion stands
            assert check[-1] == p.rounds[0].splitlines()[-1]
        if p.slip is None:
            assert wx == wy or x.split(".")[1] == y.split(".")[1]
            continue
        # the slip reads the decimals alone, which may or may not pick the right number
        glanced = max(x, y, key=lambda n: float("0." + n.split(".")[1]))
        assert p.confirmed is not None and p.confirmed.endswith(f", {glanced}, is larger.")
        pieces = p.trace(3, slipped=True, late=True, marked=True).split(f"\n{SPLICE}")
        assert pieces[0].startswith(FORCED) and pieces[1] == f"{FORCED}{p.confirmed}"
        assert pieces[2].startswith(f"{FORCED}{DEFAULT_WAIT_TEXT}{SPLICE}")
        catch = plain(pieces[2]).splitlines()
        assert catch[-1].endswith(f", {p.expected}, is larger. I slipped before.")
        late += 1
    assert late > 50


def test_compare_rereads_disagree_with_the_first_pass_half_the_time() -> None:
    """Where the whole parts differ, the forced reread corrects a first pass that judged
    them the same about as often as it confirms one that did not, so the first pass's
    verdict does not predict the reread's: only its digits do."""
    replies = [c[-1]["content"] for c in synthetic_chats(3000, seed=1)]
    rereads = [r for r in replies if "read the whole parts again digit by digit" in r]
    differ = [r for r in rereads if "So the whole parts decide" in r]
    caught = [r for r in differ if "I slipped before" in r]
    assert len(differ) > 100
    assert 0.4 < len(caught) / len(differ) < 0.75
    # the slipped first pass and the check that let it through are read, not learnt
    assert all(r.startswith(f"<think>\n{FORCED}") for r in caught)
