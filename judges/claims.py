"""What a reasoning step claims: the values it states as results, and arithmetic that is false.

Pure functions over text, used by the ``reference`` judge. A value counts as *stated* only in result
position (after ``=``, "is", "equals", "gives", ...), so repeating the question's numbers or listing
numbers is not claiming to have computed them. An equation whose left side is plain arithmetic
(``70 + 99 + 70 = 239``) is evaluated safely (no ``eval``; bounded powers) and is false when the stated
result differs beyond the rounding its own decimals imply.
"""

from __future__ import annotations

import ast
import operator
import re

NUMBER = r"-?[£$€]?\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
# A number that is the whole result: not followed by more digits, nor by an operator and another operand.
NOT_CONTINUED = r"(?!\d)(?![.,]\d)(?!\s*[-+*/^×÷]\s*[\d(])"
_RESULT = re.compile(
    r"(?:=|≈|\bis\b|\bequals\b|\bgives\b|\bmakes\b|\bgets?\b|\bare\b|\btotals?\b)\s*(?:\\boxed\{\s*)?("
    + NUMBER + ")" + NOT_CONTINUED, re.IGNORECASE)
_OPERAND = r"\(?\s*-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?\s*\)?"
_EQUATION = re.compile(
    r"(" + _OPERAND + r"(?:\s*[-+*/×÷^]\s*" + _OPERAND + r")+)\s*=\s*(" + NUMBER + r")(\s*%)?" + NOT_CONTINUED
    + r"(?![\w(^])")
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
MAX_MAGNITUDE = 1e30


def to_number(text: str) -> float | None:
    """The number a token like ``£2,340`` or ``-3.5`` denotes, or None."""
    try:
        return float(re.sub(r"[£$€,\s]", "", text))
    except ValueError:
        return None


def stated_results(step: str) -> list[float]:
    """Values the step states as results, in order."""
    values = (to_number(m.group(1)) for m in _RESULT.finditer(step))
    return [v for v in values if v is not None]


def _evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            if abs(right) > 64 or abs(left) > 1e6:
                raise ValueError("power too large to check")
            result = left**right
        elif type(node.op) in _OPS:
            result = _OPS[type(node.op)](left, right)
        else:
            raise ValueError("unsupported operator")
        if isinstance(result, complex) or abs(result) > MAX_MAGNITUDE:
            raise ValueError("result out of range")
        return result
    raise ValueError("not plain arithmetic")


def evaluate_arithmetic(expression: str) -> float | None:
    """The value of a plain arithmetic expression (``+ - * / × ÷ ^`` and parentheses), or None."""
    source = re.sub(r"(?<=\d),(?=\d{3})", "", expression).replace("×", "*").replace("÷", "/").replace("^", "**")
    try:
        return _evaluate(ast.parse(source.strip(), mode="eval").body)
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, RecursionError):
        return None


def readings(expression: str) -> list[float]:
    """The values a person may mean: standard precedence, and ``÷`` splitting the whole expression
    (``10÷1/2`` read as 10 ÷ (1/2), as worked solutions commonly write it)."""
    values = [evaluate_arithmetic(expression)]
    if "÷" in expression:
        values.append(evaluate_arithmetic("(" + ")÷(".join(expression.split("÷")) + ")"))
    return [v for v in values if v is not None]


def _rounds_to(exact: float, stated_text: str) -> bool:
    """True when the stated number equals ``exact`` up to the rounding its own decimals imply."""
    stated = to_number(stated_text)
    decimals = len(stated_text.split(".", 1)[1]) if "." in stated_text else 0
    return stated is not None and abs(exact - stated) <= 0.5 * 10**-decimals + 1e-9 * max(1.0, abs(exact))


def _continues_left(before: str) -> bool:
    """Whether the text before a candidate equation makes it part of a larger expression."""
    if before and before[-1].isalpha():  # glued to a name: "x(2)", "2y"
        return True
    stripped = before.rstrip()
    if not stripped:
        return False
    if not stripped[-1].isalpha():
        return stripped[-1] in "0123456789.,^_*/×÷+-=)$£€%"
    return len(re.search(r"[A-Za-z]+$", stripped).group(0)) == 1


def false_equations(step: str) -> list[str]:
    """The plain-arithmetic equations in the step whose stated result is wrong."""
    wrong = []
    for match in _EQUATION.finditer(step):
        lead = len(match.group(1)) - len(match.group(1).lstrip())
        if _continues_left(step[: match.start() + lead]):
            continue
        scale = 100 if match.group(3) else 1  # "5 / 10 = 50%"
        values = readings(match.group(1))
        stated = re.sub(r"[£$€\s]", "", match.group(2))
        if values and not any(_rounds_to(value * scale, stated) for value in values):
            wrong.append(match.group(0).strip())
    return wrong
