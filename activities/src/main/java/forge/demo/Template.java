package forge.demo;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A sentence with placeholders that can be both written and read back: the hidden rule recovers the problem from a
 * prompt by matching the very templates that wrote it, so generation and grading cannot drift apart.
 *
 * <p>Placeholders: {a} {b} {c} numbers; {name} {other} people; {She}/{she}/{her} the pronoun of {name};
 * {oa} {ob} {oc} the thing agreeing with a, b or c in number; {objs} its plural; {place}; {weather}.
 */
final class Template {
    private static final Pattern PLACEHOLDER = Pattern.compile("\\{([A-Za-z]+)}");
    private static final String NUMBER = "\\d+|[a-z]+(?:-[a-z]+)?";

    private final String text;
    private final Pattern reader;

    Template(String text) {
        this.text = text;
        this.reader = compile(text);
    }

    String text() {
        return text;
    }

    String render(Bindings v) {
        Matcher m = PLACEHOLDER.matcher(text);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            m.appendReplacement(out, Matcher.quoteReplacement(fill(m.group(1), v)));
        }
        m.appendTail(out);
        return out.toString();
    }

    private static String fill(String key, Bindings v) {
        switch (key) {
            case "a": return v.number(v.a());
            case "b": return v.number(v.b());
            case "c": return v.number(v.c());
            case "name": return v.name().name();
            case "other": return v.other().name();
            case "She": return capitalise(v.name().subject());
            case "she": return v.name().subject();
            case "her": return v.name().possessive();
            case "oa": return v.thing().forCount(v.a());
            case "ob": return v.thing().forCount(v.b());
            case "oc": return v.thing().forCount(v.c());
            case "objs": return v.thing().many();
            case "place": return v.place();
            case "weather": return v.weather();
            default: throw new IllegalArgumentException("unknown placeholder {" + key + "}");
        }
    }

    /** The numbers {a} and {b} in {@code sentence} if it is this template, else null. */
    int[] read(String sentence) {
        Matcher m = reader.matcher(sentence.strip());
        if (!m.matches()) {
            return null;
        }
        int a = parseNumber(m.group("a"));
        int b = parseNumber(m.group("b"));
        return a < 0 || b < 0 ? null : new int[] {a, b};
    }

    static int parseNumber(String s) {
        if (s.chars().allMatch(Character::isDigit)) {
            return s.length() > 4 ? -1 : Integer.parseInt(s);
        }
        return NumberWords.value(s);
    }

    private static Pattern compile(String text) {
        Matcher m = PLACEHOLDER.matcher(text);
        StringBuilder regex = new StringBuilder();
        Set<String> seen = new HashSet<>();
        List<String> keys = new ArrayList<>();
        int last = 0;
        while (m.find()) {
            regex.append(Pattern.quote(text.substring(last, m.start())));
            String key = m.group(1);
            keys.add(key);
            boolean first = seen.add(key);
            switch (key) {
                case "a", "b", "c", "name" -> regex.append(first
                        ? "(?<" + key + ">" + (key.equals("name") ? "[A-Z][a-z]+" : NUMBER) + ")"
                        : "\\k<" + key + ">");
                case "other" -> regex.append("[A-Z][a-z]+");
                case "She" -> regex.append("(?:She|He)");
                case "she" -> regex.append("(?:she|he)");
                case "her" -> regex.append("(?:her|his)");
                default -> regex.append("[a-z]+");
            }
            last = m.end();
        }
        regex.append(Pattern.quote(text.substring(last)));
        if (!keys.contains("a") || !keys.contains("b")) {
            // Facts without operands (counting, weather) are only ever written, never read.
            return Pattern.compile("(?!)(?<a>)(?<b>)");
        }
        return Pattern.compile(regex.toString());
    }

    private static String capitalise(String s) {
        return Character.toUpperCase(s.charAt(0)) + s.substring(1);
    }
}
