package forge.bench;

import java.util.List;

/**
 * One part of the benchmark report: each figure next to its target and whether it was met, then notes that explain
 * the figures (how they were measured, what a missed target would need). Rendered as markdown for BENCHMARKS.md.
 */
public record BenchSection(String title, List<Row> rows, List<String> notes) {

    /** @param met null where the figure has no target */
    public record Row(String figure, String value, String target, Boolean met) {
        public static Row of(String figure, String value) {
            return new Row(figure, value, "", null);
        }

        public static Row withTarget(String figure, String value, String target, boolean met) {
            return new Row(figure, value, target, met);
        }
    }

    public BenchSection {
        rows = List.copyOf(rows);
        notes = List.copyOf(notes);
    }

    public String markdown() {
        StringBuilder md = new StringBuilder("### ").append(title).append("\n\n");
        md.append("| figure | value | target | met |\n|---|---:|---|---|\n");
        for (Row r : rows) {
            md.append("| ").append(r.figure()).append(" | ").append(r.value()).append(" | ").append(r.target())
                    .append(" | ").append(r.met() == null ? "" : r.met() ? "yes" : "**no**").append(" |\n");
        }
        for (String note : notes) {
            md.append('\n').append(note).append('\n');
        }
        return md.toString();
    }
}
