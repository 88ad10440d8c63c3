package forge.demo;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Writes pretraining documents: lists of facts, question-and-answer drills, little stories, times tables and
 * counting. Every arithmetic fact of the world (held-out problems included: they are knowledge, only the questions
 * are held out) appears in many phrasings, so a small model can learn the facts and the language around them.
 */
final class PretrainCorpus {
    private PretrainCorpus() {
    }

    static String document(SplittableRandom r) {
        int kind = r.nextInt(100);
        if (kind < 30) {
            return facts(r);
        }
        if (kind < 50) {
            return drill(r);
        }
        if (kind < 75) {
            return stories(r);
        }
        if (kind < 85) {
            return table(r);
        }
        return counting(r);
    }

    static Problem randomProblem(SplittableRandom r) {
        Op op = Rng.pick(r, Op.values());
        int a = r.nextInt(op.maxA + 1);
        int b = op == Op.MINUS ? r.nextInt(a + 1) : r.nextInt(op.maxB + 1);
        return new Problem(op, a, b);
    }

    static Frame frameFor(SplittableRandom r, Problem p, boolean stories) {
        List<Frame> fits = new ArrayList<>();
        for (Frame f : Frame.ALL) {
            boolean story = f.minA() > 0;
            if (f.fits(p) && (stories || !story)) {
                fits.add(f);
            }
        }
        return Rng.pick(r, fits);
    }

    private static String facts(SplittableRandom r) {
        int n = 4 + r.nextInt(5);
        String sep = r.nextBoolean() ? "\n" : " ";
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Problem p = randomProblem(r);
            Frame f = frameFor(r, p, false);
            lines.add(f.fact().render(Bindings.random(r, p, !f.symbolic() && r.nextBoolean())));
        }
        return String.join(sep, lines);
    }

    private static String drill(SplittableRandom r) {
        int n = 3 + r.nextInt(4);
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Problem p = randomProblem(r);
            Frame f = frameFor(r, p, true);
            String q = f.question().render(Bindings.random(r, p, !f.symbolic() && r.nextBoolean()));
            lines.add("Q: " + q + " A: " + p.answer() + ".");
        }
        return String.join("\n", lines);
    }

    private static final List<Template> OPENINGS = templates("It is a {weather} day.", "{name} is in the {place}.",
            "{name} and {other} meet in the {place}.", "One {weather} morning, {name} goes to the {place}.");
    private static final List<Template> CLOSINGS = templates("{She} is happy.", "{name} tells {other} about it.",
            "{She} puts the {objs} in {her} bag.", "Then {name} goes home.", "");
    private static final List<Template> COUNT_INTROS = templates("{name} counts the {objs}:", "{name} counts:",
            "Let us count:");
    private static final Template COUNT_BY_TWOS = new Template("{name} counts by twos:");

    private static List<Template> templates(String... texts) {
        List<Template> out = new ArrayList<>();
        for (String t : texts) {
            out.add(new Template(t));
        }
        return List.copyOf(out);
    }

    private static String stories(SplittableRandom r) {
        int n = 1 + r.nextInt(3);
        List<String> paragraphs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            Problem p;
            do {
                p = randomProblem(r);
            } while (p.a() == 0 || p.b() == 0 || (p.op() == Op.TIMES && p.a() < 2));
            Frame f = frameFor(r, p, true);
            while (f.minA() == 0) {
                f = frameFor(r, p, true);
            }
            Bindings v = Bindings.random(r, p, r.nextInt(4) != 0);
            String text = Rng.pick(r, OPENINGS).render(v) + " " + f.fact().render(v);
            String closing = Rng.pick(r, CLOSINGS).render(v);
            paragraphs.add(closing.isEmpty() ? text : text + " " + closing);
        }
        return String.join("\n\n", paragraphs);
    }

    private static String table(SplittableRandom r) {
        Op op = Rng.pick(r, Op.values());
        int a = op == Op.MINUS ? 10 + r.nextInt(11) : 1 + r.nextInt(10);
        int first = r.nextInt(4);
        int last = Math.min(op == Op.MINUS ? a : 10, first + 4 + r.nextInt(7));
        boolean words = r.nextInt(3) == 0;
        String name = words ? NumberWords.words(a) : Integer.toString(a);
        StringBuilder sb = new StringBuilder(switch (op) {
            case TIMES -> "The times table for " + name + ":";
            case PLUS -> "Adding to " + name + ":";
            case MINUS -> "Taking away from " + name + ":";
        });
        for (int b = first; b <= last; b++) {
            Problem p = new Problem(op, a, b);
            sb.append(b == first ? " " : ", ");
            if (words) {
                sb.append(TABLE_WORDS.get(op.ordinal()).render(Bindings.random(r, p, true)));
            } else {
                sb.append(a).append(SYMBOLS[op.ordinal()]).append(b).append(" = ").append(p.answer());
            }
        }
        return sb.append('.').toString();
    }

    private static final String[] SYMBOLS = {" + ", " - ", " * "};
    private static final List<Template> TABLE_WORDS = templates("{a} plus {b} is {c}", "{a} minus {b} is {c}",
            "{a} times {b} is {c}");

    private static String counting(SplittableRandom r) {
        int step = r.nextInt(3) == 0 ? 2 : 1;
        int from = r.nextInt(15);
        int length = 5 + r.nextInt(8);
        boolean words = r.nextBoolean();
        List<String> numbers = new ArrayList<>();
        for (int i = 0; i < length && from + i * step <= NumberWords.MAX; i++) {
            int n = from + i * step;
            numbers.add(words ? NumberWords.words(n) : Integer.toString(n));
        }
        Bindings v = Bindings.random(r, 0, 0, 0, words);
        Template intro = step == 2 ? COUNT_BY_TWOS : Rng.pick(r, COUNT_INTROS);
        return intro.render(v) + " " + String.join(", ", numbers) + ".";
    }
}
