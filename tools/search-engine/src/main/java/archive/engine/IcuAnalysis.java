package archive.engine;

import java.io.Reader;
import java.util.Map;

import com.ibm.icu.text.FilteredNormalizer2;
import com.ibm.icu.text.Normalizer2;
import com.ibm.icu.text.UnicodeSet;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.Tokenizer;
import org.apache.lucene.analysis.icu.ICUFoldingFilter;
import org.apache.lucene.analysis.icu.ICUNormalizer2CharFilter;
import org.apache.lucene.analysis.icu.ICUNormalizer2Filter;
import org.apache.lucene.analysis.icu.segmentation.DefaultICUTokenizerConfig;
import org.apache.lucene.analysis.icu.segmentation.ICUTokenizer;
import org.opensearch.common.settings.Settings;
import org.opensearch.index.IndexSettings;
import org.opensearch.index.analysis.AbstractCharFilterFactory;
import org.opensearch.index.analysis.AbstractTokenFilterFactory;
import org.opensearch.index.analysis.AbstractTokenizerFactory;
import org.opensearch.index.analysis.CharFilterFactory;
import org.opensearch.index.analysis.NormalizingCharFilterFactory;
import org.opensearch.index.analysis.NormalizingTokenFilterFactory;
import org.opensearch.index.analysis.TokenFilterFactory;
import org.opensearch.index.analysis.TokenizerFactory;
import org.opensearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.opensearch.plugins.AnalysisPlugin;
import org.opensearch.plugins.Plugin;

/**
 * The ICU analysis components the archive's index template uses, under the names and settings of
 * OpenSearch's analysis-icu plugin: char filter and token filter {@code icu_normalizer}
 * ({@code name}: nfc, nfkc, nfkc_cf; {@code mode}: compose, decompose; {@code unicode_set_filter}),
 * token filter {@code icu_folding} ({@code unicode_set_filter}) and tokenizer {@code icu_tokenizer}
 * (dictionary segmentation of Thai, Lao, Khmer, Burmese, Chinese and Japanese).
 *
 * <p>Why here: that plugin ships only as a zip from OpenSearch's own download site, which this
 * machine cannot reach; Lucene's ICU module, which the plugin wraps, is on Maven Central. A real
 * server gets the real plugin: {@code bin/opensearch-plugin install analysis-icu}.
 */
public final class IcuAnalysis extends Plugin implements AnalysisPlugin {

    @Override
    public Map<String, AnalysisProvider<CharFilterFactory>> getCharFilters() {
        return Map.of("icu_normalizer", NormalizerCharFilter::new);
    }

    @Override
    public Map<String, AnalysisProvider<TokenFilterFactory>> getTokenFilters() {
        return Map.of("icu_normalizer", NormalizerFilter::new, "icu_folding", FoldingFilter::new);
    }

    @Override
    public Map<String, AnalysisProvider<TokenizerFactory>> getTokenizers() {
        return Map.of("icu_tokenizer", IcuTokenizer::new);
    }

    /** The normaliser the settings name, limited to `unicode_set_filter` when given. */
    static Normalizer2 normalizer(Settings settings, Normalizer2 fallback) {
        Normalizer2 base = fallback;
        String name = settings.get("name");
        if (name != null || fallback == null) {
            String mode = settings.get("mode", "compose");
            if (!mode.equals("compose") && !mode.equals("decompose")) {
                throw new IllegalArgumentException("icu_normalizer mode must be compose or decompose, not [" + mode + "]");
            }
            base = Normalizer2.getInstance(null, name == null ? "nfkc_cf" : name,
                mode.equals("compose") ? Normalizer2.Mode.COMPOSE : Normalizer2.Mode.DECOMPOSE);
        }
        String only = settings.get("unicode_set_filter");
        if (only == null) {
            return base;
        }
        UnicodeSet set = new UnicodeSet(only);
        set.freeze();
        return new FilteredNormalizer2(base, set);
    }

    static final class NormalizerCharFilter extends AbstractCharFilterFactory implements NormalizingCharFilterFactory {
        private final Normalizer2 normalizer;

        NormalizerCharFilter(IndexSettings index, org.opensearch.env.Environment env, String name, Settings settings) {
            super(index, name);
            this.normalizer = normalizer(settings, null);
        }

        @Override
        public Reader create(Reader reader) {
            return new ICUNormalizer2CharFilter(reader, normalizer);
        }
    }

    static final class NormalizerFilter extends AbstractTokenFilterFactory implements NormalizingTokenFilterFactory {
        private final Normalizer2 normalizer;

        NormalizerFilter(IndexSettings index, org.opensearch.env.Environment env, String name, Settings settings) {
            super(index, name, settings);
            this.normalizer = normalizer(settings, null);
        }

        @Override
        public TokenStream create(TokenStream stream) {
            return new ICUNormalizer2Filter(stream, normalizer);
        }
    }

    static final class FoldingFilter extends AbstractTokenFilterFactory implements NormalizingTokenFilterFactory {
        private final Normalizer2 normalizer;

        FoldingFilter(IndexSettings index, org.opensearch.env.Environment env, String name, Settings settings) {
            super(index, name, settings);
            this.normalizer = normalizer(settings, ICUFoldingFilter.NORMALIZER);
        }

        @Override
        public TokenStream create(TokenStream stream) {
            return new ICUFoldingFilter(stream, normalizer);
        }
    }

    static final class IcuTokenizer extends AbstractTokenizerFactory {
        private final DefaultICUTokenizerConfig config;

        IcuTokenizer(IndexSettings index, org.opensearch.env.Environment env, String name, Settings settings) {
            super(index, settings, name);
            // cjk_as_words (the plugin's default): dictionary words, not single ideographs
            this.config = new DefaultICUTokenizerConfig(settings.getAsBoolean("cjk_as_words", true), true);
        }

        @Override
        public Tokenizer create() {
            return new ICUTokenizer(config);
        }
    }
}
