package forge.chat;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import forge.errors.BadInputException;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The subset of Jinja that chat templates of the families Forge loads are written in (ChatML, Llama 3.x, Qwen2.5,
 * SmolLM2), evaluated as transformers' {@code apply_chat_template} does: {@code trim_blocks} and
 * {@code lstrip_blocks} on, whitespace control {@code {%- -%}}, undefined values render as nothing.
 *
 * <p>Statements: {@code for} (with {@code loop.index/index0/first/last/length/revindex}, {@code break},
 * {@code continue}), {@code if/elif/else}, {@code set} (names and {@code namespace()} attributes). Expressions:
 * literals, lists, dicts, {@code .attr}, {@code [key]}, slices, {@code + - * / % ~}, comparisons, {@code in},
 * {@code and/or/not}, {@code x if c else y}, tests ({@code is defined}, {@code none}, {@code string}...), filters
 * ({@code trim length upper lower tojson default join first last string list}), string methods ({@code strip},
 * {@code startswith}...), {@code raise_exception(msg)}. Anything else fails when the template is parsed, naming the
 * construct and its line: a template that renders differently from transformers would train on the wrong text.
 */
public final class JinjaTemplate {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** What an undefined name or missing key evaluates to: renders as "", is false, "is defined" is false. */
    static final Object UNDEFINED = new Object() {
        @Override
        public String toString() {
            return "";
        }
    };

    private final List<Node> body;

    private JinjaTemplate(List<Node> body) {
        this.body = body;
    }

    /** Parses a template; an unsupported construct fails here, naming it. */
    public static JinjaTemplate parse(String source) {
        return new JinjaTemplate(new Parser(Lexer.segments(source)).block(List.of()));
    }

    /** Renders with these variables (Strings, Numbers, Booleans, Lists, Maps, null). */
    public String render(Map<String, Object> variables) {
        Scope scope = new Scope(null);
        scope.vars.putAll(variables);
        StringBuilder out = new StringBuilder();
        exec(body, scope, out);
        return out.toString();
    }

    // ------------------------------------------------------------------------------------------------ lexing

    /** A piece of the template: literal text, an {{ output }} or a {% tag %}, with its tokens and line. */
    private record Segment(char kind, String text, List<Tok> toks, int line) {
    }

    private record Tok(char type, String text, int line) { // type: n(ame) s(tring) i(nt) f(loat) o(perator) e(nd)
        boolean is(String s) {
            return (type == 'o' || type == 'n') && text.equals(s);
        }
    }

    private static final class Lexer {
        static List<Segment> segments(String src) {
            List<Segment> out = new ArrayList<>();
            int i = 0;
            int line = 1;
            boolean stripNextLeading = false;
            boolean trimNextNewline = false;
            while (i < src.length()) {
                int open = nextOpen(src, i);
                String text = src.substring(i, open < 0 ? src.length() : open);
                if (trimNextNewline && text.startsWith("\n")) {
                    text = text.substring(1);
                }
                if (stripNextLeading) {
                    text = text.stripLeading();
                }
                if (open < 0) {
                    addText(out, text, line);
                    break;
                }
                char kind = src.charAt(open + 1);
                boolean stripBefore = open + 2 < src.length() && src.charAt(open + 2) == '-';
                if (stripBefore) {
                    text = text.stripTrailing();
                } else if (kind != '{') {
                    text = lstripBlock(text);
                }
                addText(out, text, line);
                line += count(src.substring(i, open), '\n');
                String close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
                int end = src.indexOf(close, open + 2);
                if (end < 0) {
                    throw fail(line, "\"" + src.substring(open, open + 2) + "\" is never closed");
                }
                boolean stripAfter = src.charAt(end - 1) == '-' && end - 1 >= open + 2 + (stripBefore ? 1 : 0);
                String inner = src.substring(open + 2 + (stripBefore ? 1 : 0), stripAfter ? end - 1 : end);
                if (kind != '#') {
                    out.add(new Segment(kind, inner, tokens(inner, line), line));
                }
                line += count(src.substring(open, end), '\n');
                stripNextLeading = stripAfter;
                trimNextNewline = kind != '{';
                i = end + 2;
            }
            return out;
        }

        private static void addText(List<Segment> out, String text, int line) {
            if (!text.isEmpty()) {
                out.add(new Segment('t', text, List.of(), line));
            }
        }

        private static int nextOpen(String s, int from) {
            for (int i = s.indexOf('{', from); i >= 0 && i + 1 < s.length(); i = s.indexOf('{', i + 1)) {
                char c = s.charAt(i + 1);
                if (c == '{' || c == '%' || c == '#') {
                    return i;
                }
            }
            return -1;
        }

        /** lstrip_blocks: spaces and tabs between the line's start and a block tag go. */
        private static String lstripBlock(String text) {
            int j = text.length();
            while (j > 0 && (text.charAt(j - 1) == ' ' || text.charAt(j - 1) == '\t')) {
                j--;
            }
            return j == 0 || text.charAt(j - 1) == '\n' ? text.substring(0, j) : text;
        }

        private static int count(String s, char c) {
            return (int) s.chars().filter(x -> x == c).count();
        }

        private static final String[] OPS = {"==", "!=", "<=", ">=", "//", "**", "(", ")", "[", "]", "{", "}", ",",
            ".", ":", "|", "+", "-", "*", "/", "%", "~", "<", ">", "="};

        static List<Tok> tokens(String s, int line) {
            List<Tok> out = new ArrayList<>();
            int i = 0;
            while (i < s.length()) {
                char c = s.charAt(i);
                if (c == '\n') {
                    line++;
                    i++;
                } else if (Character.isWhitespace(c)) {
                    i++;
                } else if (Character.isLetter(c) || c == '_') {
                    int j = i;
                    while (j < s.length() && (Character.isLetterOrDigit(s.charAt(j)) || s.charAt(j) == '_')) {
                        j++;
                    }
                    out.add(new Tok('n', s.substring(i, j), line));
                    i = j;
                } else if (Character.isDigit(c)) {
                    int j = i;
                    while (j < s.length() && Character.isDigit(s.charAt(j))) {
                        j++;
                    }
                    boolean isFloat = j + 1 < s.length() && s.charAt(j) == '.' && Character.isDigit(s.charAt(j + 1));
                    if (isFloat) {
                        j++;
                        while (j < s.length() && Character.isDigit(s.charAt(j))) {
                            j++;
                        }
                    }
                    out.add(new Tok(isFloat ? 'f' : 'i', s.substring(i, j), line));
                    i = j;
                } else if (c == '\'' || c == '"') {
                    StringBuilder b = new StringBuilder();
                    int j = i + 1;
                    while (j < s.length() && s.charAt(j) != c) {
                        char d = s.charAt(j);
                        if (d == '\\' && j + 1 < s.length()) {
                            char e = s.charAt(++j);
                            b.append(switch (e) {
                                case 'n' -> '\n';
                                case 't' -> '\t';
                                case 'r' -> '\r';
                                default -> e;
                            });
                        } else {
                            b.append(d);
                        }
                        j++;
                    }
                    if (j >= s.length()) {
                        throw fail(line, "a string is never closed");
                    }
                    out.add(new Tok('s', b.toString(), line));
                    i = j + 1;
                } else {
                    String op = null;
                    for (String o : OPS) {
                        if (s.startsWith(o, i)) {
                            op = o;
                            break;
                        }
                    }
                    if (op == null) {
                        throw fail(line, "unexpected character '" + c + "'");
                    }
                    out.add(new Tok('o', op, line));
                    i += op.length();
                }
            }
            out.add(new Tok('e', "", line));
            return out;
        }
    }

    // ------------------------------------------------------------------------------------------------ tree

    private sealed interface Node permits Text, Output, For, If, Set, Control {
    }

    private record Text(String text) implements Node {
    }

    private record Output(Expr e) implements Node {
    }

    private record For(List<String> names, Expr iterable, Expr filter, List<Node> body, List<Node> orElse)
            implements Node {
    }

    private record If(List<Expr> conditions, List<List<Node>> branches, List<Node> orElse) implements Node {
    }

    private record Set(String name, String attr, Expr value) implements Node {
    }

    private record Control(boolean isBreak) implements Node {
    }

    @FunctionalInterface
    private interface Expr {
        Object eval(Scope s);
    }

    @FunctionalInterface
    private interface Fn {
        Object call(List<Object> args);
    }

    private static final class Scope {
        final Scope parent;
        final Map<String, Object> vars = new HashMap<>();

        Scope(Scope parent) {
            this.parent = parent;
        }

        Object get(String name) {
            for (Scope s = this; s != null; s = s.parent) {
                if (s.vars.containsKey(name)) {
                    return s.vars.get(name);
                }
            }
            return switch (name) {
                case "raise_exception" -> (Fn) args -> {
                    throw new BadInputException("chat_template: raise_exception(\"" + str(args.get(0)) + "\")");
                };
                case "namespace" -> (Fn) args -> new Namespace();
                case "range" -> (Fn) args -> {
                    long from = args.size() > 1 ? num(args.get(0)).longValue() : 0;
                    long to = num(args.get(args.size() > 1 ? 1 : 0)).longValue();
                    List<Object> r = new ArrayList<>();
                    for (long k = from; k < to; k++) {
                        r.add(k);
                    }
                    return r;
                };
                default -> UNDEFINED;
            };
        }

        /** Jinja's set inside a for loop is local to the iteration; elsewhere it is the template's. */
        void set(String name, Object value) {
            vars.put(name, value);
        }
    }

    /** namespace(): the one mutable object templates use to carry state out of a loop. */
    private static final class Namespace extends LinkedHashMap<String, Object> {
    }

    private static final class LoopBreak extends RuntimeException {
        final boolean isBreak;

        LoopBreak(boolean isBreak) {
            super(null, null, false, false);
            this.isBreak = isBreak;
        }
    }

    // ------------------------------------------------------------------------------------------------ parsing

    private static final class Parser {
        private final List<Segment> segs;
        private int at;
        private List<Tok> toks;
        private int p;

        Parser(List<Segment> segs) {
            this.segs = segs;
        }

        /** Nodes up to (not consuming) a tag whose first word is in ends; at top level, to the end. */
        List<Node> block(List<String> ends) {
            List<Node> out = new ArrayList<>();
            while (at < segs.size()) {
                Segment s = segs.get(at);
                if (s.kind() == 't') {
                    out.add(new Text(s.text()));
                    at++;
                    continue;
                }
                toks = s.toks();
                p = 0;
                if (s.kind() == '{') {
                    at++;
                    Expr e = expr();
                    expectEnd();
                    out.add(new Output(e));
                    continue;
                }
                String word = peek().text();
                if (ends.contains(word)) {
                    return out;
                }
                at++;
                p++;
                out.add(switch (word) {
                    case "for" -> forNode(s);
                    case "if" -> ifNode();
                    case "set" -> setNode();
                    case "break", "continue" -> {
                        expectEnd();
                        yield new Control(word.equals("break"));
                    }
                    default -> throw fail(s.line(), "{% " + word + " %} is not supported"
                            + (List.of("endfor", "endif", "else", "elif").contains(word) ? " here (nothing to close)"
                            : " (for, if/elif/else, set, break, continue are)"));
                });
            }
            if (!ends.isEmpty()) {
                int line = segs.isEmpty() ? 1 : segs.get(segs.size() - 1).line();
                String end = ends.stream().filter(w -> w.startsWith("end")).findFirst().orElse(ends.get(0));
                throw fail(line, "missing {% " + end + " %}");
            }
            return out;
        }

        private Node forNode(Segment s) {
            List<String> names = new ArrayList<>();
            names.add(name());
            while (peek().is(",")) {
                p++;
                names.add(name());
            }
            expectWord("in");
            Expr iterable = or();
            Expr filter = null;
            if (peek().is("if")) {
                p++;
                filter = expr();
            }
            if (peek().is("recursive")) {
                throw fail(s.line(), "recursive for loops are not supported");
            }
            expectEnd();
            List<Node> body = block(List.of("endfor", "else"));
            List<Node> orElse = List.of();
            if (closing().equals("else")) {
                orElse = block(List.of("endfor"));
                closing();
            }
            return new For(names, iterable, filter, body, orElse);
        }

        private Node ifNode() {
            List<Expr> conds = new ArrayList<>();
            List<List<Node>> branches = new ArrayList<>();
            conds.add(expr());
            expectEnd();
            List<Node> orElse = List.of();
            while (true) {
                branches.add(block(List.of("elif", "else", "endif")));
                String word = closing();
                if (word.equals("elif")) {
                    conds.add(expr());
                    expectEnd();
                } else if (word.equals("else")) {
                    orElse = block(List.of("endif"));
                    closing();
                    break;
                } else {
                    break;
                }
            }
            return new If(conds, branches, orElse);
        }

        private Node setNode() {
            String name = name();
            String attr = null;
            if (peek().is(".")) {
                p++;
                attr = name();
            }
            if (!peek().is("=")) {
                throw fail(peek().line(), "{% set " + name + " %}...{% endset %} blocks are not supported");
            }
            p++;
            Expr value = expr();
            expectEnd();
            return new Set(name, attr, value);
        }

        /** Consumes the closing tag block() stopped at and returns its first word (its tokens become current). */
        private String closing() {
            Segment s = segs.get(at++);
            toks = s.toks();
            p = 1;
            String word = s.toks().get(0).text();
            if (!word.equals("elif")) {
                expectEnd();
            }
            return word;
        }

        // expressions, lowest precedence first

        Expr expr() {
            Expr value = or();
            if (peek().is("if")) {
                p++;
                Expr cond = or();
                Expr otherwise = s -> UNDEFINED;
                if (peek().is("else")) {
                    p++;
                    otherwise = expr();
                }
                Expr orElse = otherwise;
                return s -> truthy(cond.eval(s)) ? value.eval(s) : orElse.eval(s);
            }
            return value;
        }

        private Expr or() {
            Expr left = and();
            while (peek().is("or")) {
                p++;
                Expr l = left;
                Expr r = and();
                left = s -> {
                    Object v = l.eval(s);
                    return truthy(v) ? v : r.eval(s);
                };
            }
            return left;
        }

        private Expr and() {
            Expr left = not();
            while (peek().is("and")) {
                p++;
                Expr l = left;
                Expr r = not();
                left = s -> {
                    Object v = l.eval(s);
                    return truthy(v) ? r.eval(s) : v;
                };
            }
            return left;
        }

        private Expr not() {
            if (peek().is("not")) {
                p++;
                Expr e = not();
                return s -> !truthy(e.eval(s));
            }
            return compare();
        }

        private Expr compare() {
            Expr left = concat();
            while (true) {
                Tok t = peek();
                String op;
                if (t.is("==") || t.is("!=") || t.is("<") || t.is(">") || t.is("<=") || t.is(">=") || t.is("in")) {
                    op = t.text();
                    p++;
                } else if (t.is("not") && toks.get(p + 1).is("in")) {
                    op = "not in";
                    p += 2;
                } else if (t.is("is")) {
                    p++;
                    left = test(left);
                    continue;
                } else {
                    return left;
                }
                Expr l = left;
                Expr r = concat();
                String o = op;
                left = s -> compareOp(o, l.eval(s), r.eval(s));
            }
        }

        private Expr test(Expr subject) {
            boolean negate = false;
            if (peek().is("not")) {
                p++;
                negate = true;
            }
            Tok t = next();
            String name = t.type() == 'n' ? t.text() : "";
            boolean neg = negate;
            java.util.function.Predicate<Object> test = switch (name) {
                case "defined" -> v -> v != UNDEFINED;
                case "undefined" -> v -> v == UNDEFINED;
                case "none" -> Objects::isNull;
                case "string" -> v -> v instanceof String;
                case "number" -> v -> v instanceof Number;
                case "boolean" -> v -> v instanceof Boolean;
                case "true" -> v -> Boolean.TRUE.equals(v);
                case "false" -> v -> Boolean.FALSE.equals(v);
                case "mapping" -> v -> v instanceof Map;
                case "sequence", "iterable" -> v -> v instanceof List || v instanceof String || v instanceof Map;
                default -> throw fail(t.line(), "the test \"is " + t.text() + "\" is not supported");
            };
            return s -> neg != test.test(subject.eval(s));
        }

        private Expr concat() {
            Expr left = additive();
            while (peek().is("~")) {
                p++;
                Expr l = left;
                Expr r = additive();
                left = s -> str(l.eval(s)) + str(r.eval(s));
            }
            return left;
        }

        private Expr additive() {
            Expr left = multiplicative();
            while (peek().is("+") || peek().is("-")) {
                boolean plus = next().is("+");
                Expr l = left;
                Expr r = multiplicative();
                left = s -> plus ? add(l.eval(s), r.eval(s)) : arith('-', l.eval(s), r.eval(s));
            }
            return left;
        }

        private Expr multiplicative() {
            Expr left = unary();
            while (peek().is("*") || peek().is("/") || peek().is("%") || peek().is("//")) {
                Tok op = next();
                char o = op.is("//") ? 'd' : op.text().charAt(0);
                Expr l = left;
                Expr r = unary();
                left = s -> arith(o, l.eval(s), r.eval(s));
            }
            return left;
        }

        private Expr unary() {
            if (peek().is("-")) {
                p++;
                Expr e = unary();
                return s -> arith('-', 0L, e.eval(s));
            }
            return postfix(primary());
        }

        private Expr postfix(Expr e) {
            while (true) {
                Tok t = peek();
                if (t.is(".")) {
                    p++;
                    String attr = name();
                    Expr target = e;
                    if (peek().is("(")) {
                        p++;
                        List<Expr> args = args(")");
                        e = s -> method(target.eval(s), attr, evalAll(args, s), t.line());
                    } else {
                        e = s -> item(target.eval(s), attr);
                    }
                } else if (t.is("[")) {
                    p++;
                    Expr target = e;
                    Expr from = peek().is(":") ? null : expr();
                    if (peek().is(":")) {
                        p++;
                        Expr to = peek().is("]") ? null : expr();
                        expect("]");
                        e = s -> slice(target.eval(s), from == null ? null : from.eval(s), to == null ? null : to.eval(s));
                    } else {
                        expect("]");
                        e = s -> item(target.eval(s), from.eval(s));
                    }
                } else if (t.is("(")) {
                    p++;
                    Expr fn = e;
                    List<Expr> args = args(")");
                    e = s -> {
                        Object f = fn.eval(s);
                        if (!(f instanceof Fn callable)) {
                            throw fail(t.line(), "calling something that is not a function");
                        }
                        return callable.call(evalAll(args, s));
                    };
                } else if (t.is("|")) {
                    p++;
                    Tok f = next();
                    List<Expr> args = List.of();
                    if (peek().is("(")) {
                        p++;
                        args = args(")");
                    }
                    e = filter(e, f, args);
                } else {
                    return e;
                }
            }
        }

        private Expr primary() {
            Tok t = next();
            switch (t.type()) {
                case 's':
                    return s -> t.text();
                case 'i':
                    long v = Long.parseLong(t.text());
                    return s -> v;
                case 'f':
                    double d = Double.parseDouble(t.text());
                    return s -> d;
                case 'n':
                    return switch (t.text()) {
                        case "true", "True" -> s -> true;
                        case "false", "False" -> s -> false;
                        case "none", "None" -> s -> null;
                        default -> s -> s.get(t.text());
                    };
                default:
                    break;
            }
            if (t.is("(")) {
                Expr e = expr();
                expect(")");
                return e;
            }
            if (t.is("[")) {
                List<Expr> items = args("]");
                return s -> new ArrayList<>(evalAll(items, s));
            }
            if (t.is("{")) {
                List<Expr[]> entries = new ArrayList<>();
                while (!peek().is("}")) {
                    Expr k = expr();
                    expect(":");
                    entries.add(new Expr[] {k, expr()});
                    if (!peek().is(",")) {
                        break;
                    }
                    p++;
                }
                expect("}");
                return s -> {
                    Map<String, Object> m = new LinkedHashMap<>();
                    for (Expr[] kv : entries) {
                        m.put(str(kv[0].eval(s)), kv[1].eval(s));
                    }
                    return m;
                };
            }
            throw fail(t.line(), t.type() == 'e' ? "an expression is missing" : "unexpected \"" + t.text() + "\"");
        }

        private Expr filter(Expr e, Tok f, List<Expr> args) {
            return switch (f.text()) {
                case "trim" -> s -> str(e.eval(s)).strip();
                case "upper" -> s -> str(e.eval(s)).toUpperCase(java.util.Locale.ROOT);
                case "lower" -> s -> str(e.eval(s)).toLowerCase(java.util.Locale.ROOT);
                case "string" -> s -> str(e.eval(s));
                case "length", "count" -> s -> (long) length(e.eval(s), f.line());
                case "first" -> s -> item(e.eval(s), 0L);
                case "last" -> s -> item(e.eval(s), -1L);
                case "list" -> s -> new ArrayList<>(list(e.eval(s), f.line()));
                case "tojson" -> s -> tojson(e.eval(s));
                case "join" -> s -> {
                    String sep = args.isEmpty() ? "" : str(args.get(0).eval(s));
                    return String.join(sep, list(e.eval(s), f.line()).stream().map(JinjaTemplate::str).toList());
                };
                case "default", "d" -> s -> {
                    Object v = e.eval(s);
                    return v == UNDEFINED ? (args.isEmpty() ? "" : args.get(0).eval(s)) : v;
                };
                default -> throw fail(f.line(), "the filter \"|" + f.text() + "\" is not supported");
            };
        }

        private List<Expr> args(String close) {
            List<Expr> out = new ArrayList<>();
            while (!peek().is(close)) {
                if (peek().type() == 'n' && toks.get(p + 1).is("=")) {
                    throw fail(peek().line(), "keyword arguments (" + peek().text() + "=...) are not supported");
                }
                out.add(expr());
                if (!peek().is(",")) {
                    break;
                }
                p++;
            }
            expect(close);
            return out;
        }

        private Tok peek() {
            return toks.get(p);
        }

        private Tok next() {
            Tok t = toks.get(p);
            if (t.type() != 'e') {
                p++;
            }
            return t;
        }

        private String name() {
            Tok t = next();
            if (t.type() != 'n') {
                throw fail(t.line(), "expected a name, got \"" + t.text() + "\"");
            }
            return t.text();
        }

        private void expect(String op) {
            Tok t = next();
            if (!t.is(op)) {
                throw fail(t.line(), "expected \"" + op + "\", got \"" + t.text() + "\"");
            }
        }

        private void expectWord(String w) {
            expect(w);
        }

        private void expectEnd() {
            Tok t = peek();
            if (t.type() != 'e') {
                throw fail(t.line(), "unexpected \"" + t.text() + "\"");
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ evaluation

    private static void exec(List<Node> nodes, Scope scope, StringBuilder out) {
        for (Node n : nodes) {
            if (n instanceof Text t) {
                out.append(t.text());
            } else if (n instanceof Output o) {
                out.append(str(o.e().eval(scope)));
            } else if (n instanceof If i) {
                List<Node> branch = i.orElse();
                for (int k = 0; k < i.conditions().size(); k++) {
                    if (truthy(i.conditions().get(k).eval(scope))) {
                        branch = i.branches().get(k);
                        break;
                    }
                }
                exec(branch, scope, out);
            } else if (n instanceof Set s) {
                Object v = s.value().eval(scope);
                if (s.attr() == null) {
                    scope.set(s.name(), v);
                } else if (scope.get(s.name()) instanceof Namespace ns) {
                    ns.put(s.attr(), v);
                } else {
                    throw new BadInputException("chat_template: {% set " + s.name() + "." + s.attr()
                            + " %} needs " + s.name() + " to be a namespace()");
                }
            } else if (n instanceof For f) {
                loop(f, scope, out);
            } else if (n instanceof Control c) {
                throw new LoopBreak(c.isBreak());
            }
        }
    }

    private static void loop(For f, Scope scope, StringBuilder out) {
        Object it = f.iterable().eval(scope);
        List<Object> items = new ArrayList<>();
        for (Object x : it instanceof Map<?, ?> m ? new ArrayList<Object>(m.keySet()) : list(it, 0)) {
            if (f.filter() == null) {
                items.add(x);
                continue;
            }
            Scope probe = new Scope(scope);
            bind(f.names(), x, probe);
            if (truthy(f.filter().eval(probe))) {
                items.add(x);
            }
        }
        if (items.isEmpty()) {
            exec(f.orElse(), scope, out);
            return;
        }
        for (int k = 0; k < items.size(); k++) {
            Scope inner = new Scope(scope);
            bind(f.names(), items.get(k), inner);
            Map<String, Object> loop = new HashMap<>();
            loop.put("index", (long) k + 1);
            loop.put("index0", (long) k);
            loop.put("revindex", (long) (items.size() - k));
            loop.put("revindex0", (long) (items.size() - k - 1));
            loop.put("first", k == 0);
            loop.put("last", k == items.size() - 1);
            loop.put("length", (long) items.size());
            loop.put("previtem", k > 0 ? items.get(k - 1) : UNDEFINED);
            loop.put("nextitem", k + 1 < items.size() ? items.get(k + 1) : UNDEFINED);
            inner.vars.put("loop", loop);
            try {
                exec(f.body(), inner, out);
            } catch (LoopBreak b) {
                if (b.isBreak) {
                    break;
                }
            }
        }
    }

    private static void bind(List<String> names, Object value, Scope s) {
        if (names.size() == 1) {
            s.vars.put(names.get(0), value);
            return;
        }
        List<Object> parts = list(value, 0);
        for (int k = 0; k < names.size(); k++) {
            s.vars.put(names.get(k), k < parts.size() ? parts.get(k) : UNDEFINED);
        }
    }

    private static List<Object> evalAll(List<Expr> exprs, Scope s) {
        List<Object> out = new ArrayList<>(exprs.size());
        for (Expr e : exprs) {
            out.add(e.eval(s));
        }
        return out;
    }

    /** Python's str() of a value, as Jinja renders it. */
    static String str(Object v) {
        if (v == null) {
            return "None";
        }
        if (v instanceof Boolean b) {
            return b ? "True" : "False";
        }
        if (v instanceof String s) {
            return s;
        }
        if (v instanceof Number || v == UNDEFINED) {
            return v.toString();
        }
        if (v instanceof Map<?, ?> || v instanceof List<?>) {
            return pyRepr(v);
        }
        return v.toString();
    }

    private static String pyRepr(Object v) {
        if (v instanceof String s) {
            return "'" + s.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'";
        }
        if (v instanceof List<?> l) {
            List<String> parts = new ArrayList<>();
            l.forEach(x -> parts.add(pyRepr(x)));
            return "[" + String.join(", ", parts) + "]";
        }
        if (v instanceof Map<?, ?> m) {
            List<String> parts = new ArrayList<>();
            m.forEach((k, x) -> parts.add(pyRepr(k) + ": " + pyRepr(x)));
            return "{" + String.join(", ", parts) + "}";
        }
        return str(v);
    }

    static boolean truthy(Object v) {
        if (v == null || v == UNDEFINED) {
            return false;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        if (v instanceof String s) {
            return !s.isEmpty();
        }
        if (v instanceof Number n) {
            return n.doubleValue() != 0;
        }
        if (v instanceof List<?> l) {
            return !l.isEmpty();
        }
        if (v instanceof Map<?, ?> m) {
            return !m.isEmpty();
        }
        return true;
    }

    private static Number num(Object v) {
        if (v instanceof Number n) {
            return n;
        }
        if (v instanceof Boolean b) {
            return b ? 1L : 0L;
        }
        throw new BadInputException("chat_template: expected a number, got " + pyRepr(v));
    }

    private static Object add(Object a, Object b) {
        if (a instanceof String || b instanceof String) {
            if (!(a instanceof String && b instanceof String)) {
                throw new BadInputException("chat_template: cannot add " + pyRepr(a) + " and " + pyRepr(b)
                        + " (use ~ to join text)");
            }
            return (String) a + b;
        }
        if (a instanceof List<?> x && b instanceof List<?> y) {
            List<Object> out = new ArrayList<>(x);
            out.addAll(y);
            return out;
        }
        return arith('+', a, b);
    }

    private static Object arith(char op, Object a, Object b) {
        Number x = num(a);
        Number y = num(b);
        boolean integral = x instanceof Long && y instanceof Long && op != '/';
        if (integral) {
            long l = x.longValue();
            long r = y.longValue();
            return switch (op) {
                case '+' -> l + r;
                case '-' -> l - r;
                case '*' -> l * r;
                case '%' -> Math.floorMod(l, r);
                case 'd' -> Math.floorDiv(l, r);
                default -> throw new IllegalStateException();
            };
        }
        double l = x.doubleValue();
        double r = y.doubleValue();
        return switch (op) {
            case '+' -> l + r;
            case '-' -> l - r;
            case '*' -> l * r;
            case '/' -> l / r;
            case '%' -> l - r * Math.floor(l / r);
            case 'd' -> Math.floor(l / r);
            default -> throw new IllegalStateException();
        };
    }

    private static Object compareOp(String op, Object a, Object b) {
        switch (op) {
            case "==":
                return same(a, b);
            case "!=":
                return !same(a, b);
            case "in":
                return contains(b, a);
            case "not in":
                return !contains(b, a);
            default:
                break;
        }
        int c;
        if (a instanceof String x && b instanceof String y) {
            c = x.compareTo(y);
        } else {
            c = Double.compare(num(a).doubleValue(), num(b).doubleValue());
        }
        return switch (op) {
            case "<" -> c < 0;
            case ">" -> c > 0;
            case "<=" -> c <= 0;
            default -> c >= 0;
        };
    }

    private static boolean same(Object a, Object b) {
        if (a instanceof Number x && b instanceof Number y) {
            return x.doubleValue() == y.doubleValue();
        }
        if (a == UNDEFINED || b == UNDEFINED) {
            return a == b;
        }
        return Objects.equals(a, b);
    }

    private static boolean contains(Object container, Object x) {
        if (container instanceof String s) {
            return s.contains(str(x));
        }
        if (container instanceof Map<?, ?> m) {
            return m.containsKey(str(x));
        }
        if (container instanceof List<?> l) {
            return l.stream().anyMatch(y -> same(x, y));
        }
        return false;
    }

    private static Object item(Object target, Object key) {
        if (target instanceof Map<?, ?> m) {
            String k = str(key);
            return m.containsKey(k) ? m.get(k) : UNDEFINED;
        }
        if ((target instanceof List<?> || target instanceof String) && key instanceof Number n) {
            int size = length(target, 0);
            int i = n.intValue() < 0 ? size + n.intValue() : n.intValue();
            if (i < 0 || i >= size) {
                return UNDEFINED;
            }
            return target instanceof List<?> l ? l.get(i) : String.valueOf(((String) target).charAt(i));
        }
        return UNDEFINED;
    }

    private static Object slice(Object target, Object from, Object to) {
        int size = length(target, 0);
        int a = from == null ? 0 : clamp(num(from).intValue(), size);
        int b = to == null ? size : clamp(num(to).intValue(), size);
        if (target instanceof String s) {
            return a < b ? s.substring(a, b) : "";
        }
        List<Object> l = list(target, 0);
        return a < b ? new ArrayList<>(l.subList(a, b)) : new ArrayList<>();
    }

    private static int clamp(int i, int size) {
        int j = i < 0 ? size + i : i;
        return Math.max(0, Math.min(size, j));
    }

    private static int length(Object v, int line) {
        if (v instanceof String s) {
            return s.codePointCount(0, s.length());
        }
        if (v instanceof List<?> l) {
            return l.size();
        }
        if (v instanceof Map<?, ?> m) {
            return m.size();
        }
        throw new BadInputException("chat_template: length of " + pyRepr(v) + (line > 0 ? " (line " + line + ")" : ""));
    }

    @SuppressWarnings("unchecked")
    private static List<Object> list(Object v, int line) {
        if (v instanceof List<?> l) {
            return (List<Object>) l;
        }
        if (v == UNDEFINED || v == null) {
            throw new BadInputException("chat_template: iterating over an undefined value"
                    + (line > 0 ? " (line " + line + ")" : ""));
        }
        if (v instanceof String s) {
            List<Object> out = new ArrayList<>();
            s.codePoints().forEach(cp -> out.add(new String(Character.toChars(cp))));
            return out;
        }
        if (v instanceof Map<?, ?> m) {
            return new ArrayList<>(m.keySet());
        }
        throw new BadInputException("chat_template: cannot iterate over " + pyRepr(v));
    }

    private static Object method(Object target, String name, List<Object> args, int line) {
        if (target instanceof String s) {
            switch (name) {
                case "strip":
                    return args.isEmpty() ? s.strip() : stripChars(stripChars(s, str(args.get(0)), true), str(args.get(0)), false);
                case "lstrip":
                    return args.isEmpty() ? s.stripLeading() : stripChars(s, str(args.get(0)), true);
                case "rstrip":
                    return args.isEmpty() ? s.stripTrailing() : stripChars(s, str(args.get(0)), false);
                case "upper":
                    return s.toUpperCase(java.util.Locale.ROOT);
                case "lower":
                    return s.toLowerCase(java.util.Locale.ROOT);
                case "startswith":
                    return s.startsWith(str(args.get(0)));
                case "endswith":
                    return s.endsWith(str(args.get(0)));
                case "replace":
                    return s.replace(str(args.get(0)), str(args.get(1)));
                case "split":
                    List<Object> parts = new ArrayList<>();
                    if (args.isEmpty()) {
                        for (String x : s.strip().split("\\s+")) {
                            if (!x.isEmpty()) {
                                parts.add(x);
                            }
                        }
                    } else {
                        parts.addAll(List.of(s.split(java.util.regex.Pattern.quote(str(args.get(0))), -1)));
                    }
                    return parts;
                default:
                    break;
            }
        }
        if (target instanceof Map<?, ?> m) {
            switch (name) {
                case "items":
                    List<Object> items = new ArrayList<>();
                    m.forEach((k, v) -> items.add(new ArrayList<>(List.of(k, v == null ? "None" : v))));
                    return items;
                case "keys":
                    return new ArrayList<Object>(m.keySet());
                case "values":
                    return new ArrayList<Object>(m.values());
                case "get":
                    Object v = item(m, args.get(0));
                    return v == UNDEFINED ? (args.size() > 1 ? args.get(1) : null) : v;
                default:
                    break;
            }
        }
        throw fail(line, "the method ." + name + "() is not supported on " + pyRepr(target));
    }

    private static String stripChars(String s, String chars, boolean leading) {
        int a = 0;
        int b = s.length();
        if (leading) {
            while (a < b && chars.indexOf(s.charAt(a)) >= 0) {
                a++;
            }
        } else {
            while (b > a && chars.indexOf(s.charAt(b - 1)) >= 0) {
                b--;
            }
        }
        return s.substring(a, b);
    }

    /** transformers' tojson: json.dumps with ensure_ascii=False (", " and ": " separators). */
    private static String tojson(Object v) {
        if (v == UNDEFINED) {
            return "null";
        }
        try {
            String compact = JSON.writeValueAsString(v);
            return pythonSeparators(compact);
        } catch (JsonProcessingException e) {
            throw new BadInputException("chat_template: tojson of " + pyRepr(v) + ": " + e.getOriginalMessage());
        }
    }

    private static String pythonSeparators(String json) {
        StringBuilder b = new StringBuilder();
        boolean inString = false;
        for (int i = 0; i < json.length(); i++) {
            char c = json.charAt(i);
            b.append(c);
            if (c == '"' && (i == 0 || json.charAt(i - 1) != '\\' || json.charAt(i - 2) == '\\')) {
                inString = !inString;
            } else if (!inString && (c == ',' || c == ':')) {
                b.append(' ');
            }
        }
        return b.toString();
    }

    private static BadInputException fail(int line, String problem) {
        return new BadInputException("chat_template: line " + line + ": " + problem);
    }
}
