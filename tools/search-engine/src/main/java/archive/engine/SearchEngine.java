package archive.engine;

import java.io.IOException;
import java.util.concurrent.CountDownLatch;

import org.codelibs.opensearch.runner.OpenSearchRunner;

/**
 * One OpenSearch node in this JVM, for the tests and `make search-engine`:
 * {@code SearchEngine PORT HOME [--no-icu]} serves HTTP on 127.0.0.1:PORT with its data, logs and
 * config under HOME, and runs until the JVM is told to stop (SIGTERM, Ctrl-C), closing the node
 * cleanly. {@code --no-icu} leaves the ICU components out, as on a server without analysis-icu.
 */
public final class SearchEngine {
    private SearchEngine() {
    }

    public static void main(String[] args) throws Exception {
        boolean icu = args.length == 2;
        if (args.length < 2 || args.length > 3 || (args.length == 3 && !args[2].equals("--no-icu"))) {
            System.err.println("usage: SearchEngine PORT HOME [--no-icu]");
            System.exit(2);
        }
        int port = Integer.parseInt(args[0]);
        String home = args[1];
        OpenSearchRunner runner = new OpenSearchRunner();
        runner.setMaxHttpPort(-1); // take PORT as given; the caller chose a free one
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (IOException e) {
                System.err.println("closing the node failed: " + e);
            }
            stopped.countDown();
        }));
        runner.onBuild((number, settings) -> {
            settings.put("http.port", port);
            settings.put("network.host", "127.0.0.1");
            settings.put("discovery.type", "single-node");
            // A test machine's disk may be fuller than a server's: never go read-only for it.
            settings.put("cluster.routing.allocation.disk.threshold_enabled", false);
        });
        OpenSearchRunner.Configs configs = OpenSearchRunner.newConfigs()
            .basePath(home)
            .numOfNode(1)
            .clusterName("archive-search-engine");
        runner.build(icu ? configs.pluginTypes(IcuAnalysis.class.getName()) : configs);
        System.out.println("search engine: OpenSearch node started on 127.0.0.1:" + port);
        stopped.await();
    }
}
