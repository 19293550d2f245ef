// HttpGet.java — one GET with java.net.http.HttpClient (HTTP/1.1), for the
// request-level suites: `java HttpGet.java URL [TIMEOUT_MS] [COUNT]` makes
// COUNT requests (default 1) with one client, so they share a keep-alive
// connection, and prints one line per request: the status (with the body
// for 200), or the
// exception's class and message. Trusts any certificate (the tests' own
// self-signed one).
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.cert.X509Certificate;
import java.time.Duration;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;

public class HttpGet {
    public static void main(String[] args) throws Exception {
        long timeout = args.length > 1 ? Long.parseLong(args[1]) : 1000;
        int count = args.length > 2 ? Integer.parseInt(args[2]) : 1;
        TrustManager[] trustAll = {new X509TrustManager() {
            public void checkClientTrusted(X509Certificate[] c, String a) {}
            public void checkServerTrusted(X509Certificate[] c, String a) {}
            public X509Certificate[] getAcceptedIssuers() { return new X509Certificate[0]; }
        }};
        SSLContext tls = SSLContext.getInstance("TLS");
        tls.init(null, trustAll, null);
        HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                                .connectTimeout(Duration.ofMillis(timeout)).sslContext(tls).build();
        HttpRequest request = HttpRequest.newBuilder(URI.create(args[0]))
                                  .timeout(Duration.ofMillis(timeout)).build();
        for (int i = 0; i < count; i++) {
            try {
                HttpResponse<String> r = client.send(request, HttpResponse.BodyHandlers.ofString());
                System.out.println(r.statusCode() == 200 ? "200 " + r.body().trim() : "" + r.statusCode());
            } catch (Exception e) {
                Throwable cause = e;
                while (cause.getCause() != null)
                    cause = cause.getCause();
                System.out.println(e.getClass().getSimpleName() + ": " + cause.getClass().getSimpleName() + ": " + cause.getMessage());
            }
        }
    }
}
