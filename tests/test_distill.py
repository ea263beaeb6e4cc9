"""The distillation pipeline: converter, teacher, trainer (tiny config) and scoring."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, GenerationConfig, TrainerControl

from distill import teacher
from distill.evaluate import Outcome, held_out, is_correct, summarise
from distill.tasks import WORDS
from distill.timebudget import TimeBudget
from distill.train import TrainConfig, encode_chat, make_collator, new_model, train
from distill.trainer import distillation_loss, packed_forward
from distill.words import TRAIN_ONLY_WORDS
from server.prompts import load_tokenizer
from tests.conftest import API_KEY, REPO, RunningServer

FIXTURES = Path(__file__).parent / "fixtures"


def convert(tmp_path: Path, name: str, *flags: str) -> tuple[dict[str, object], list[dict]]:
    out = tmp_path / "out.jsonl"
    result = subprocess.run([sys.executable, "-m", "distill", "convert", str(FIXTURES / name),
                             str(out), *flags], cwd=REPO, capture_output=True, text=True,
                            check=True, timeout=120)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    return json.loads(result.stdout), records


def test_convert_110k_format_counts_and_names_every_skip(tmp_path: Path) -> None:
    report, records = convert(tmp_path, "r1_distill_110k.jsonl")
    assert report["written"] == 4 and report["skipped"] == 3
    assert report["skipped_by_reason"] == {"empty question": 1, "malformed JSON": 1,
                                           "line is not a JSON object": 1}
    assert report["example_lines"]["malformed JSON"] == [4]
    first = records[0]["messages"]
    assert first[0] == {"role": "user", "content": "1+1等于几？"}
    assert first[1]["content"] == "<think>\n用户问1加1。1+1=2。\n</think>\n\n1+1等于2。"


def test_convert_filters_by_score(tmp_path: Path) -> None:
    report, _records = convert(tmp_path, "r1_distill_110k.jsonl", "--min-score", "8")
    assert report["written"] == 2
    assert report["skipped_by_reason"]["score below 8"] == 1
    assert report["skipped_by_reason"]["no numeric score"] == 1


def test_convert_sft_format(tmp_path: Path) -> None:
    report, records = convert(tmp_path, "r1_distill_sft.jsonl")
    assert report["written"] == 2
    assert report["skipped_by_reason"] == {"output has no <think>...</think> block": 1,
                                           "empty reasoning": 1,
                                           "field 'instruction' is not a string": 1}
    assert records[0]["messages"][0]["content"] == "计算\n\n12+30"
    assert records[0]["messages"][1]["content"] == "<think>\n12加30得42。\n</think>\n\n答案是42。"


def test_convert_filters_by_length_in_tokens(tmp_path: Path) -> None:
    report, _ = convert(tmp_path, "r1_distill_sft.jsonl", "--max-tokens", "20")
    assert report["skipped_by_reason"].get("longer than 20 tokens", 0) >= 1


def test_teacher_is_deterministic_and_splits_are_disjoint() -> None:
    a = teacher.sample("train", 300, seed=3)
    assert a == teacher.sample("train", 300, seed=3)
    test_keys = {p.key for p in teacher.sample("test", 300, seed=3) if p.task != "chat"}
    assert test_keys and not test_keys & {p.key for p in a}
    assert {p.task for p in a} == set(teacher.TASKS)


def test_count_trains_on_more_words_than_it_is_tested_on() -> None:
    def words(split: str) -> set[str]:
        problems = teacher.sample(split, 1000, seed=4, tasks=("count",))
        return {p.key.split(":")[1] for p in problems}

    trained, tested = words("train"), words("test")
    assert tested <= set(WORDS)
    assert trained & set(TRAIN_ONLY_WORDS) and trained & set(WORDS)
    # made-up words, which have no spelling to remember, only a comparison to make
    assert len(trained - set(TRAIN_ONLY_WORDS) - set(WORDS)) > 100


def test_held_out_problems_stay_the_ones_every_figure_was_measured_on() -> None:
    # Changing how training data is drawn must not move the evaluator's problems,
    # or no accuracy in the model card would compare with the next.
    questions = "".join(p.question for p in held_out(1000, seed=1234))
    assert hashlib.md5(questions.encode()).hexdigest() == "11a6e1ed2283789e9435cb32eb6a695e"


def test_reweighting_training_does_not_move_held_out_problems(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The ninth run reweighted the training mix and, through the draw's randomness,
    # was measured on other problems than every earlier run.
    before = {s: held_out(300, seed=1234, split=s) for s in teacher.SPLITS}
    monkeypatch.setitem(teacher.WEIGHTS, "count", 5)
    monkeypatch.setitem(teacher.WEIGHTS, "sort", 9)
    assert teacher.sample("train", 50, seed=1) != teacher.sample(
        "train", 50, seed=1, weights=teacher.HELD_OUT_WEIGHTS)
    assert {s: held_out(300, seed=1234, split=s) for s in teacher.SPLITS} == before


def test_teacher_traces_are_right() -> None:
    for p in teacher.sample("train", 400, seed=9):
        assert "Wait, let me" in p.reasoning or p.task == "chat"
        if p.task != "chat":
            assert is_correct(p.task, p.expected, p.answer), (p.question, p.answer)


def test_teacher_steps_name_their_column_and_use_its_digits() -> None:
    """Each column line restates what is left of both numbers and builds the result in place."""
    checked = 0
    for p in teacher.sample("train", 300, seed=11):
        if p.task not in ("add", "subtract") or "dropped a carry" in p.reasoning:
            continue
        a, b = map(int, re.findall(r"\d+", p.key))
        width = len(str(max(a, b)))
        steps = [line for line in p.reasoning.splitlines() if line.split(":")[0] in
                 teacher.COLUMNS]
        assert len(steps) == width, p.reasoning
        result = a + b if p.task == "add" else a - b
        for i, line in enumerate(steps):
            rest_a, rest_b = str(a)[: len(str(a)) - i], str(b)[: len(str(b)) - i]
            said_a = f"{rest_a} ends in {rest_a[-1]}" if rest_a else "nothing left, so 0"
            said_b = f"{rest_b} ends in {rest_b[-1]}" if rest_b else "nothing left, so 0"
            assert line.startswith(f"{teacher.COLUMNS[i]}: {said_a} and {said_b}."), (line, a, b)
            so_far = line.rsplit("So far ", 1)[1].rstrip(".")
            assert int(so_far) == result % 10 ** (i + 1) or i == width - 1, (line, a, b)
            checked += 1
        assert int(steps[-1].rsplit("So far ", 1)[1].rstrip(".")) == result
    for p in teacher.sample("train", 100, seed=12):
        if p.task == "count":
            word, letter = p.key.split(":")[1:]
            walked = [line for line in p.reasoning.splitlines() if line[0].isdigit()]
            assert len(walked) == len(word)
            for position, (line, ch) in enumerate(zip(walked, word, strict=True), start=1):
                verdict = "yes" if ch == letter else "no"
                assert line.startswith(f"{position}. {ch} vs {letter}: {verdict}"), line
    assert checked > 100


def test_sort_goes_through_each_decade_in_order() -> None:
    seen_shared_decade = False
    for p in teacher.sample("train", 300, seed=13):
        if p.task != "sort":
            continue
        given = [int(n) for n in p.key.split(":")[1].split(", ")]
        decades = [line for line in p.reasoning.splitlines() if line[2:4] == "s:"]
        assert [line[:4] for line in decades] == [f"{t}0s:" for t in range(1, 10)]
        collected: list[int] = []
        for tens, line in enumerate(decades, start=1):
            members = [n for n in given if n // 10 == tens]
            listed = [int(n) for n in re.findall(r"\d+", line[4:])]
            if not members:
                assert line == f"{tens}0s: none.", line
            elif members == sorted(members):
                assert listed == members, line
            else:
                seen_shared_decade = True
                assert listed == members + sorted(members), line
            collected += sorted(members)
        assert f"So in order: {', '.join(map(str, collected))}." in p.reasoning
        assert collected == sorted(given) and p.expected == ", ".join(map(str, collected))
        assert p.answer == f"From smallest to largest: {p.expected}."
    assert seen_shared_decade


def test_compare_checks_the_deciding_part_before_concluding() -> None:
    for p in teacher.sample("train", 200, seed=14):
        if p.task != "compare":
            continue
        x, y = p.key.split(":")[1:]
        lines = p.reasoning.splitlines()
        which = "first" if float(x) > float(y) else "second"
        assert lines[-2].startswith("Wait, let me double-check: ")
        assert lines[-2].endswith(f"so the {which} number is larger.")
        assert lines[-1] == f"So the {which} number, {p.expected}, is larger."
        assert p.answer.startswith(f"{p.expected} is larger than ")


@pytest.mark.parametrize(("task", "expected", "content", "ok"), [
    ("add", "843", "457 + 386 = 843.", True),
    ("add", "843", "457 + 386 = 842.", False),
    ("count", "3", "There are 3 r's in \"strawberry\".", True),
    ("compare", "9.9", "9.9 is larger than 9.11.", True),
    ("compare", "9.9", "9.11 is larger than 9.9.", False),
    ("sort", "1, 2, 5", "From smallest to largest: 1, 2, 5.", True),
    ("sort", "1, 2, 5", "", False),
])
def test_answers_are_scored_from_content(task: str, expected: str, content: str, ok: bool) -> None:
    assert is_correct(task, expected, content) is ok


def test_summary_weights_each_distinct_problem_once() -> None:
    def outcome(key: str, correct: bool) -> Outcome:
        return Outcome(task="count", key=key, correct=correct, answer_form=True,
                       end_marker_in_answer=False, has_reasoning=True, has_content=True,
                       closed_thinking=True, num_reasoning_tokens=10, latency_s=0.1)

    # One pair asked 7 times and wrong, three asked once and right: 30% of the
    # problems, 75% of the distinct ones.
    outcomes = [outcome("count:hippopotamus:m", False)] * 7 + [
        outcome(f"count:{w}:e", True) for w in ("pepper", "bookkeeper", "cheese")]
    summary = summarise(outcomes)
    assert summary["accuracy_by_task"] == {"count": 0.3}
    assert summary["num_distinct_by_task"] == {"count": 4}
    assert summary["accuracy_by_task_distinct"] == {"count": 0.75}
    # The held-out count set really does repeat its pairs, which is why this is reported.
    keys = [p.key for p in held_out(1000, 1234, "hard") if p.task == "count"]
    assert len(set(keys)) < len(keys) // 10


def test_eval_says_why_the_server_refused_without_a_traceback(server: RunningServer) -> None:
    # A budget that cannot fit the default --max-tokens is refused for every problem.
    run = subprocess.run(
        [sys.executable, "-m", "distill", "eval", "--base-url", server.v1,
         "--api-key", API_KEY, "--num-problems", "5",
         "--extra-body", '{"budget_forcing": {"min_thinking_tokens": 2000}}'],
        capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run
    assert "Traceback" not in run.stderr, run.stderr
    assert "refused a request" in run.stderr and "max_tokens (1024)" in run.stderr, run.stderr


def test_eval_dump_keeps_each_exchange_and_its_verdict(server: RunningServer,
                                                      tmp_path: Path) -> None:
    dump, out = tmp_path / "new" / "dump.jsonl", tmp_path / "summary.json"
    run = subprocess.run(
        [sys.executable, "-m", "distill", "eval", "--base-url", server.v1,
         "--api-key", API_KEY, "--num-problems", "10", "--dump", str(dump),
         "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in dump.read_text().splitlines()]
    assert [r["question"] for r in rows] == [p.question for p in held_out(10, 1234)]
    for r in rows:
        assert r["reasoning"].strip() and r["content"].strip(), r
        assert r["correct"] == is_correct(r["task"], r["expected"], r["content"]), r
    # The dump and the summary describe the same answers.
    summary = json.loads(out.read_text())
    assert summary["accuracy"] == sum(r["correct"] for r in rows) / len(rows)


def test_loss_is_on_the_assistant_turn_only() -> None:
    tokenizer = load_tokenizer(REPO / "models" / "aha-demo")
    problem = teacher.sample("train", 1, seed=1)[0]
    example = encode_chat(tokenizer, problem.messages(), max_len=1024)
    assert example is not None
    labelled = [t for t, label in zip(example.input_ids, example.labels, strict=True)
                if label != -100]
    text = tokenizer.decode(labelled)
    assert text.startswith(problem.reasoning[:20]) and text.endswith("<|im_end|>")
    assert "<|im_start|>" not in text and "user" not in text


def test_packed_examples_do_not_see_each_other() -> None:
    tokenizer = load_tokenizer(REPO / "models" / "aha-demo")
    chats = [p.messages() for p in teacher.sample("train", 6, seed=2)]
    examples = [e for chat in chats if (e := encode_chat(tokenizer, chat, max_len=512))]
    rows = [{"input_ids": e.input_ids, "labels": e.labels} for e in examples]
    batch = make_collator(tokenizer.pad_token_id, row_len=512)(rows)
    assert batch["input_ids"].shape[0] < len(rows) and batch["input_ids"].shape[1] <= 512
    assert (batch["labels"] != -100).sum() == sum(
        sum(label != -100 for label in e.labels) for e in examples)
    model = new_model(tokenizer, "tiny").eval()
    with torch.no_grad():
        packed = packed_forward(model, batch).logits
        # Each packed example starts where its position ids restart at 0.
        segments = {}
        for row, positions in enumerate(batch["position_ids"].tolist()):
            starts = [i for i, pos in enumerate(positions) if pos == 0] + [len(positions)]
            for start, end in itertools.pairwise(starts):
                tokens = tuple(batch["input_ids"][row, start:end].tolist())
                segments[tokens] = packed[row, start:end]
        for e in examples:
            alone = model(input_ids=torch.tensor([e.input_ids])).logits[0]
            torch.testing.assert_close(segments[tuple(e.input_ids)], alone,
                                       atol=1e-4, rtol=1e-4)


def test_trainer_runs_a_few_steps_and_saves_a_loadable_model(tmp_path: Path) -> None:
    metrics = train(TrainConfig(out_dir=tmp_path, preset="tiny", num_examples=64, max_steps=3,
                                batch_size=4, vocab_size=400, compile=False))
    assert metrics["steps"] == 3
    model = AutoModelForCausalLM.from_pretrained(str(tmp_path))
    tokenizer = load_tokenizer(tmp_path)
    assert model.config.num_attention_heads * 64 == model.config.hidden_size
    assert tokenizer.convert_tokens_to_ids("</think>") != tokenizer.unk_token_id
    assert len(tokenizer.encode("<think>", add_special_tokens=False)) == 1
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}],
                                           add_generation_prompt=True, tokenize=False)
    assert prompt.endswith("<|im_start|>assistant\n<think>\n")
    # Greedy unless a request asks; saved so that loading and saving again still works.
    assert GenerationConfig.from_pretrained(str(tmp_path)).to_diff_dict()["do_sample"] is False


def test_a_pinned_tokenizer_keeps_its_ids_when_the_data_changes(tmp_path: Path) -> None:
    # Two runs that compare recipes must give each token the same embedding row:
    # a tokenizer built from other data (here another seed's) moves ids.
    first, pinned = tmp_path / "first", tmp_path / "pinned"
    train(TrainConfig(out_dir=first, preset="tiny", num_examples=64, max_steps=1,
                      batch_size=4, vocab_size=400, seed=1, compile=False))
    train(TrainConfig(out_dir=pinned, preset="tiny", num_examples=64, max_steps=1,
                      batch_size=4, seed=2, tokenizer=first, compile=False))
    vocab = load_tokenizer(first).get_vocab()
    assert load_tokenizer(pinned).get_vocab() == vocab
    model = AutoModelForCausalLM.from_pretrained(str(pinned))
    assert model.config.vocab_size == len(vocab)


@pytest.mark.parametrize(("extra", "message"), [
    (["--numbers", "digits"], "leave out --numbers"),
    (["--init", "models/aha-demo"], "leave out --init"),
    ([], "no tokenizer.json there"),
])
def test_train_refuses_a_tokenizer_it_cannot_pin(
        tmp_path: Path, extra: list[str], message: str) -> None:
    tokenizer_dir = "models/aha-demo" if extra else str(tmp_path)
    run = subprocess.run(
        [sys.executable, "-m", "distill", "train", "--out", str(tmp_path / "out"),
         "--tokenizer", tokenizer_dir, *extra],
        capture_output=True, text=True, timeout=120, cwd=REPO)
    assert run.returncode == 1 and message in run.stderr, run
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()


def test_logit_distillation_from_a_teacher(tmp_path: Path) -> None:
    teacher_dir, student_dir = tmp_path / "teacher", tmp_path / "student"
    train(TrainConfig(out_dir=teacher_dir, preset="tiny", num_examples=64, max_steps=2,
                      batch_size=4, vocab_size=400, compile=False))
    metrics = train(TrainConfig(out_dir=student_dir, init=teacher_dir, teacher=teacher_dir,
                                num_examples=64, max_steps=2, batch_size=4, alpha=0.5,
                                compile=False))
    assert metrics["steps"] == 2 and metrics["train_loss"] > 0


def test_distillation_loss_mixes_hard_and_soft_terms() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 11)
    labels = torch.tensor([[-100, 1, 2, 3, 4], [-100, -100, 5, 6, 7]])
    hard = torch.tensor(1.5)
    same = distillation_loss(logits, logits.clone(), labels, hard, alpha=0.3, temperature=2.0)
    assert torch.isclose(same, 0.3 * hard)  # KL to itself is zero
    other = distillation_loss(logits, torch.randn(2, 5, 11), labels, hard, 0.3, 2.0)
    assert other > same



def test_time_budget_warms_up_by_steps_then_decays_over_elapsed_time() -> None:
    now_s = [100.0]
    budget = TimeBudget(budget_s=60, warmup_steps=10, clock_s=lambda: now_s[0])
    assert budget.lr_factor(0) == pytest.approx(0.1)  # the clock starts here
    assert budget.lr_factor(9) == pytest.approx(1.0)
    now_s[0] += 30
    assert budget.lr_factor(500) == pytest.approx(0.5)  # half the time: cosine at half
    control = TrainerControl()
    budget.on_step_end(None, None, control)
    assert not control.should_training_stop
    now_s[0] += 31
    assert budget.lr_factor(900) == pytest.approx(0.0)
    budget.on_step_end(None, None, control)
    assert control.should_training_stop
    with pytest.raises(ValueError):
        TimeBudget(budget_s=0, warmup_steps=1)


def test_trainer_stops_when_its_time_budget_is_spent(tmp_path: Path) -> None:
    # A clock that moves only when the trainer reads it: the run's length in steps
    # depends on how often the schedule asks the time, never on the machine's speed.
    num_reads = itertools.count()
    metrics = train(TrainConfig(out_dir=tmp_path, preset="tiny", num_examples=64,
                                max_minutes=0.1, batch_size=4, vocab_size=400, compile=False),
                    clock_s=lambda: 0.1 * next(num_reads))
    # 64 examples are 16 steps: more steps than that means the data was cycled, so
    # the budget, not the data, ended the run (reads per step are a few, not hundreds).
    assert 16 < metrics["steps"] < 200
    # The cosine decay ran over the whole budget: the last step's learning rate is 0.
    assert metrics["final_learning_rate"] == pytest.approx(0.0, abs=1e-9)
    assert AutoModelForCausalLM.from_pretrained(str(tmp_path)).config.num_hidden_layers == 1
