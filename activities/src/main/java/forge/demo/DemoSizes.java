package forge.demo;

import forge.errors.BadInputException;

/** How much of each kind of demo data {@link DemoWorld#writeJsonl} writes. */
public record DemoSizes(int pretrainDocs, int sftExamples, int comparisons, int rankedLists, int rankSize,
                        int prompts) {
    public DemoSizes {
        positive("demo.pretrain_docs", pretrainDocs);
        positive("demo.sft_examples", sftExamples);
        positive("demo.comparisons", comparisons);
        positive("demo.ranked_lists", rankedLists);
        positive("demo.prompts", prompts);
        if (rankSize < 2 || rankSize > DemoWorld.maxRankSize()) {
            throw BadInputException.field("demo.rank_size", "must be in 2.." + DemoWorld.maxRankSize()
                    + ", got " + rankSize);
        }
    }

    public static DemoSizes defaults() {
        return new DemoSizes(20_000, 2_000, 2_000, 500, 4, 500);
    }

    private static void positive(String field, int n) {
        if (n < 1) {
            throw BadInputException.field(field, "must be >= 1, got " + n);
        }
    }
}
