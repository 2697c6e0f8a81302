# The seed's Rack hello world, for Puma in `npm run bench` (when puma is installed).
run lambda { |env| [200, { 'content-type' => 'text/html' }, ["Hello World\n"]] }
