package forge.demo;

import java.util.List;

/**
 * One way the world talks about a problem: a question and the matching statement of fact. Symbolic frames
 * ("7 + 5 = 12") always use digits; the others use digits or words.
 */
record Frame(Op op, Template question, Template fact, boolean symbolic, int minA, int minB) {

    static Frame of(Op op, String question, String fact) {
        return new Frame(op, new Template(question), new Template(fact), false, 0, 0);
    }

    static Frame symbolic(Op op, String question, String fact) {
        return new Frame(op, new Template(question), new Template(fact), true, 0, 0);
    }

    /** A story needs something to start with and something to happen. */
    static Frame story(Op op, int minA, String question, String fact) {
        return new Frame(op, new Template(question), new Template(fact), false, minA, 1);
    }

    boolean fits(Problem p) {
        return p.op() == op && p.a() >= minA && p.b() >= minB;
    }

    static final List<Frame> ALL = List.of(
            of(Op.PLUS, "What is {a} plus {b}?", "{a} plus {b} is {c}."),
            of(Op.PLUS, "How much is {a} plus {b}?", "{a} plus {b} equals {c}."),
            of(Op.PLUS, "What do you get if you add {a} and {b}?", "If you add {a} and {b}, you get {c}."),
            symbolic(Op.PLUS, "What is {a} + {b}?", "{a} + {b} = {c}"),
            story(Op.PLUS, 1,
                    "{name} has {a} {oa}. {She} gets {b} more. How many {objs} does {name} have now?",
                    "{name} has {a} {oa}. {She} gets {b} more. Now {name} has {c} {oc}."),
            story(Op.PLUS, 1,
                    "There are {a} {oa} in the {place}. {name} brings {b} more. How many {objs} are in the {place} now?",
                    "There are {a} {oa} in the {place}. {name} brings {b} more. Now the {place} has {c} {oc}."),

            of(Op.MINUS, "What is {a} minus {b}?", "{a} minus {b} is {c}."),
            of(Op.MINUS, "How much is {a} take away {b}?", "{a} take away {b} leaves {c}."),
            of(Op.MINUS, "What do you get if you subtract {b} from {a}?", "If you subtract {b} from {a}, you get {c}."),
            symbolic(Op.MINUS, "What is {a} - {b}?", "{a} - {b} = {c}"),
            story(Op.MINUS, 1,
                    "{name} has {a} {oa}. {She} gives {b} to {other}. How many {objs} does {name} have now?",
                    "{name} has {a} {oa}. {She} gives {b} to {other}. Now {name} has {c} {oc}."),
            story(Op.MINUS, 1,
                    "There are {a} {oa} in the {place}. {name} takes {b} away. How many {objs} are left?",
                    "There are {a} {oa} in the {place}. {name} takes {b} away. Then the {place} has {c} {oc}."),

            of(Op.TIMES, "What is {a} times {b}?", "{a} times {b} is {c}."),
            of(Op.TIMES, "How much is {a} times {b}?", "{a} times {b} equals {c}."),
            of(Op.TIMES, "What do you get if you multiply {a} by {b}?", "If you multiply {a} by {b}, you get {c}."),
            symbolic(Op.TIMES, "What is {a} * {b}?", "{a} * {b} = {c}"),
            story(Op.TIMES, 2,
                    "{name} has {a} bags with {b} {ob} in each bag. How many {objs} does {name} have?",
                    "{name} has {a} bags with {b} {ob} in each bag. So {name} has {c} {oc}."));
}
