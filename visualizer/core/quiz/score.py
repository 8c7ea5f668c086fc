"""The running score of a quiz and the summary of what was missed."""

from __future__ import annotations

from dataclasses import dataclass, field

from visualizer.core.quiz.questions import Question, Verdict

__all__ = ["Score", "feedback"]


@dataclass
class Score:
    """Answers so far: a skipped question counts as asked and not right."""

    right: int = 0
    asked: int = 0
    skipped: int = 0
    missed: list[tuple[Question, Verdict]] = field(default_factory=list)

    def add(self, question: Question, verdict: Verdict) -> None:
        self.asked += 1
        if verdict.correct:
            self.right += 1
            return
        self.skipped += verdict.skipped
        self.missed.append((question, verdict))

    @property
    def line(self) -> str:
        """``score: R/Q``."""
        return f"score: {self.right}/{self.asked}"

    def summary(self) -> list[str]:
        """One line per missed question: frame, field, the right answer and why."""
        if not self.missed:
            return ["Nothing missed." if self.asked else "No question was asked."]
        lines = [f"Missed {len(self.missed)} of {self.asked}:"]
        for question, verdict in self.missed:
            said = "skipped" if verdict.skipped else verdict.reason
            lines.append(f"  frame {question.frame} {question.field}: {question.answer} "
                         f"({said})")
        return lines


def feedback(question: Question, verdict: Verdict) -> str:
    """What to say after an answer: right, or wrong and why."""
    if verdict.correct:
        return f"Right: {question.answer}. {question.why}"
    if verdict.skipped:
        return f"Skipped: it is {question.answer}. {question.why}"
    return f"Wrong: {verdict.reason}. Why: {question.why}"
